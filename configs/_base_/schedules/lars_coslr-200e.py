# The LARS recipe of LEWEL's released scripts (scripts/*_eman.sh; used for LEWEL_B and its BYOL
# baseline): LARS lr 3.6 at a total batch of 1024, momentum 0.9, weight decay 1.5e-6; biases and
# all norm parameters get neither weight decay nor the LARS trust ratio; 10-epoch linear warm-up
# per iteration reaching the lr on its last iteration (lr·(t+1)/T, as the release), then cosine per
# epoch to 200 epochs; AMP (the scripts pass --amp). Method configs take it with
#   _base_ = ['<method config>', '../_base_/schedules/lars_coslr-200e.py']
#   optim_wrapper = {{_base_.lars_optim_wrapper}}
#   param_scheduler = {{_base_.lars_param_scheduler}}
#   auto_scale_lr = {{_base_.lars_auto_scale_lr}}
# (the names differ from the method config's own `optim_wrapper` ..., which `_delete_` replaces).
lars_optim_wrapper = dict(
    _delete_=True,
    type='AmpOptimWrapper',
    loss_scale='dynamic',
    constructor='SkipEMAOptimWrapperConstructor',
    optimizer=dict(type='FusedLARS', lr=3.6, momentum=0.9, weight_decay=1.5e-6),
    paramwise_cfg=dict(bias_and_norm_cfg=dict(weight_decay=0., lars_exclude=True)))
lars_param_scheduler = [
    dict(type='LinearWarmupLR', by_epoch=True, begin=0, end=10, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=190, by_epoch=True, begin=10, end=200),
]
# lr 3.6 is for a total batch of 1024; `--auto-scale-lr` scales it linearly to yours.
lars_auto_scale_lr = dict(base_batch_size=1024)
