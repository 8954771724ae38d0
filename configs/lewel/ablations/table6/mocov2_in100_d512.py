# LEWEL Table 6 row: MoCo v2 with a larger projection head, d = 512.
_base_ = '../mocov2_r50_8xb32_240e_in100.py'

model = dict(feat_dim=512, neck=dict(out_channels=512))
