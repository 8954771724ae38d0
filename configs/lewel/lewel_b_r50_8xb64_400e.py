# LEWEL_B, 400 epochs with SyncBN (LEWEL Sec. 3.3 "With 400 training epochs, we use the SyncBN",
# Table 1/2/4/8). SyncBN in the backbone, g, p and both predictors; single-process and CPU runs
# revert it to BN with a warning (DenseRunner).
_base_ = 'lewel_b_r50_8xb64_200e.py'

model = dict(
    backbone=dict(norm_cfg=dict(type='SyncBN')),
    neck=dict(norm_cfg=dict(type='SyncBN')),
    aligned_projector=dict(norm_cfg=dict(type='SyncBN')),
    head=dict(predictor=dict(norm_cfg=dict(type='SyncBN'))),
    aligned_head=dict(predictor=dict(norm_cfg=dict(type='SyncBN'))))
param_scheduler = [dict(type='CosineAnnealingLR', T_max=400, by_epoch=True, begin=0, end=400)]
train_cfg = dict(max_epochs=400)
