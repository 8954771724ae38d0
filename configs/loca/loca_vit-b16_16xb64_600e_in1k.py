# LOCA ViT-B/16, 600 epochs: the paper's main-result length (Tables 1, 2, 8).
_base_ = './loca_vit-b16_16xb64_100e_in1k.py'

max_epochs = 600
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=15,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - 15, eta_min_ratio=0.01, by_epoch=True,
         begin=15, end=max_epochs, convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=max_epochs)
