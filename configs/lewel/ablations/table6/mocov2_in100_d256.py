# LEWEL Table 6 row: MoCo v2 with a larger projection head, d = 256.
_base_ = '../mocov2_r50_8xb32_240e_in100.py'

model = dict(feat_dim=256, neck=dict(out_channels=256))
