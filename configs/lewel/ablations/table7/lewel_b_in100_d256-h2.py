# LEWEL Table 7: LEWEL_B with d = 256, h = 2 (d/h = 128 aligned embeddings, c = d).
_base_ = '../lewel_b_r50_8xb64_240e_in100.py'

model = dict(
    num_groups=2,
    neck=dict(out_channels=256),
    aligned_projector=dict(out_channels=256),
    head=dict(predictor=dict(in_channels=256, out_channels=256)),
    aligned_head=dict(predictor=dict(in_channels=256, out_channels=256)))
