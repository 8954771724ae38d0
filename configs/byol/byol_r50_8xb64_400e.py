# BYOL, 400 epochs with SyncBN in backbone, projector and predictor (LEWEL Sec. 3.3 / Table 1).
_base_ = 'byol_r50_8xb64_200e.py'

model = dict(
    backbone=dict(norm_cfg=dict(type='SyncBN')),
    neck=dict(norm_cfg=dict(type='SyncBN')),
    head=dict(predictor=dict(norm_cfg=dict(type='SyncBN'))))
param_scheduler = [dict(type='CosineAnnealingLR', T_max=400, by_epoch=True, begin=0, end=400)]
train_cfg = dict(max_epochs=400)
