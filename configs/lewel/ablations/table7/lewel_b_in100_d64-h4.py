# LEWEL Table 7: LEWEL_B with d = 64, h = 4 (d/h = 16 aligned embeddings, c = d).
_base_ = '../lewel_b_r50_8xb64_240e_in100.py'

model = dict(
    num_groups=4,
    neck=dict(out_channels=64),
    aligned_projector=dict(out_channels=64),
    head=dict(predictor=dict(in_channels=64, out_channels=64)),
    aligned_head=dict(predictor=dict(in_channels=64, out_channels=64)))
