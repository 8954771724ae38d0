# BYOL, 100 epochs (LEWEL Table 1/3 baseline row "BYOL* 100").
_base_ = 'byol_r50_8xb64_200e.py'

param_scheduler = [dict(type='CosineAnnealingLR', T_max=100, by_epoch=True, begin=0, end=100)]
train_cfg = dict(max_epochs=100)
