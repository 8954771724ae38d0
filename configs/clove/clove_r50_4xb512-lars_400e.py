# CLoVE, paper recipe, 400 epochs (CLoVE Tables 1-7, "400" rows).
_base_ = 'clove_r50_4xb512-lars_200e.py'

max_epochs = 400
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=True, begin=0, end=5,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - 5, eta_min_ratio=0.01, by_epoch=True,
         begin=5, end=max_epochs, convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=max_epochs)
