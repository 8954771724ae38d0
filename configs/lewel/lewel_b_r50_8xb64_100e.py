# LEWEL_B, 100 epochs (LEWEL Table 1/3 "LEWEL_B 100").
_base_ = 'lewel_b_r50_8xb64_200e.py'

param_scheduler = [dict(type='CosineAnnealingLR', T_max=100, by_epoch=True, begin=0, end=100)]
train_cfg = dict(max_epochs=100)
