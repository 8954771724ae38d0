# LEWEL_B, 400 epochs with SyncBN (LEWEL Sec. 3.3 "With 400 training epochs, we use the SyncBN",
# Table 1/2/4/8). SyncBN in the backbone, g, p and both predictors; single-process and CPU runs
# revert it to BN with a warning (DenseRunner).
# The authors' 400-epoch script (scripts/srun_lewelb.sh) is a different recipe: no EMAN (target in
# train mode, parameters-only EMA: teacher_buffers='copy'), momentum 0.996 (base_momentum=0.004),
# LARS lr 7.2 at batch 4096, wd 1e-6, SyncBN. This config follows the paper (its 200e recipe + SyncBN).
_base_ = 'lewel_b_r50_8xb64_200e.py'

model = dict(
    backbone=dict(norm_cfg=dict(type='SyncBN')),
    neck=dict(norm_cfg=dict(type='SyncBN')),
    aligned_projector=dict(norm_cfg=dict(type='SyncBN')),
    head=dict(predictor=dict(norm_cfg=dict(type='SyncBN'))),
    aligned_head=dict(predictor=dict(norm_cfg=dict(type='SyncBN'))))
param_scheduler = [dict(type='CosineAnnealingLR', T_max=400, by_epoch=True, begin=0, end=400)]
train_cfg = dict(max_epochs=400)
