# LEWEL Table 7: LEWEL_B with d = 128, h = 4 (d/h = 32 aligned embeddings, c = d).
_base_ = '../lewel_b_r50_8xb64_240e_in100.py'

model = dict(
    num_groups=4,
    neck=dict(out_channels=128),
    aligned_projector=dict(out_channels=128),
    head=dict(predictor=dict(in_channels=128, out_channels=128)),
    aligned_head=dict(predictor=dict(in_channels=128, out_channels=128)))
