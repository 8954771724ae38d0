# IN-1K linear evaluation, LEWEL_B protocol (LEWEL, Huang et al. CVPR 2022, Sec. 4.1 / Table 1,
# "following BYOL"): a linear classifier on the frozen ResNet-50 (weights AND BN statistics:
# frozen_stages=4, norm_eval=True), 50 epochs, batch 256 (8 GPUs x 32), SGD momentum 0.9, lr 0.4,
# x0.1 at epochs 30 and 40, weight decay 0; top-1 / top-5 on val (resize 256, center crop 224).
# tools/benchmarks/linear_cls.sh CKPT [GPUS] --protocol lewel_b
_base_ = [
    'mmpretrain::_base_/models/resnet50.py',
    'mmpretrain::_base_/datasets/imagenet_bs32_pil_resize.py',
    'mmpretrain::_base_/schedules/imagenet_sgd_steplr_100e.py',
    'mmpretrain::_base_/default_runtime.py',
]
default_scope = 'mmpretrain'
model = dict(backbone=dict(frozen_stages=4, norm_eval=True, init_cfg=None))
train_dataloader = dict(batch_size=32)
optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.4, momentum=0.9, weight_decay=0.0))
param_scheduler = [dict(type='MultiStepLR', by_epoch=True, milestones=[30, 40], gamma=0.1)]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=50, val_interval=5)
default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=10, max_keep_ckpts=2))
# the paper's batch: 256 = 8 GPUs x 32 (fewer GPUs: gradient accumulation keeps
# it, see densepre/transfer/effective_batch.py; --scale-lr: lr scaled linearly instead)
auto_scale_lr = dict(enable=True, base_batch_size=256)
pretrained_parts = [dict(module='backbone', prefix='backbone.')]
