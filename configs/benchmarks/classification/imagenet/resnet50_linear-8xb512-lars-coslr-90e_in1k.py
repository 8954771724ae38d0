# IN-1K linear evaluation, LEWEL_M protocol (LEWEL, Huang et al. CVPR 2022, Sec. 4.1 / Table 1,
# "following SimSiam"): a linear classifier on the frozen ResNet-50 (weights AND BN statistics:
# frozen_stages=4, norm_eval=True), 90 epochs, batch 4096 (8 GPUs x 512), LARS lr 3.2, momentum
# 0.9, weight decay 0, cosine annealing; top-1 / top-5 on val (resize 256, center crop 224).
# tools/benchmarks/linear_cls.sh CKPT [GPUS] --protocol lewel_m
_base_ = [
    'mmpretrain::_base_/models/resnet50.py',
    'mmpretrain::_base_/datasets/imagenet_bs32_pil_resize.py',
    'mmpretrain::_base_/schedules/imagenet_lars_coslr_90e.py',
    'mmpretrain::_base_/default_runtime.py',
]
default_scope = 'mmpretrain'
model = dict(backbone=dict(frozen_stages=4, norm_eval=True, init_cfg=None))
train_dataloader = dict(batch_size=512)
optim_wrapper = dict(
    optimizer=dict(type='LARS', lr=3.2, momentum=0.9, weight_decay=0.0),
    # biases get no layer-wise LARS adaptation (as in SimSiam's LARS); the weight does
    paramwise_cfg=dict(custom_keys={'bias': dict(lars_exclude=True)}))
param_scheduler = [dict(type='CosineAnnealingLR', T_max=90, by_epoch=True, begin=0, end=90)]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=90, val_interval=10)
default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=10, max_keep_ckpts=2))
# the paper's batch: 4096 = 8 GPUs x 512 (fewer GPUs: gradient accumulation keeps
# it, see densepre/transfer/effective_batch.py; --scale-lr: lr scaled linearly instead)
auto_scale_lr = dict(enable=True, base_batch_size=4096)
pretrained_parts = [dict(module='backbone', prefix='backbone.')]
