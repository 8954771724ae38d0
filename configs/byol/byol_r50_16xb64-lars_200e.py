# BYOL with the optimiser of LEWEL's released scripts (not the paper's text): LARS lr 3.6 at a
# total batch of 1024 (16 x 64), wd 1e-6 excluding biases and BN, 10-epoch linear warm-up.
_base_ = 'byol_r50_8xb64_200e.py'

optim_wrapper = dict(
    optimizer=dict(_delete_=True, type='LARS', lr=3.6, momentum=0.9, weight_decay=1e-6),
    paramwise_cfg=dict(
        norm_decay_mult=0.0, bias_decay_mult=0.0,
        custom_keys={'bn': dict(lars_exclude=True), 'bias': dict(lars_exclude=True)}))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=10,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=190, by_epoch=True, begin=10, end=200),
]
auto_scale_lr = dict(base_batch_size=1024)
