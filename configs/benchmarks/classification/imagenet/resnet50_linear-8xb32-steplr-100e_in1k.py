# IN-1K linear evaluation, MoCo protocol (He et al. CVPR 2020) as used by Revisiting Contrastive
# Methods (Van Gansbeke et al., appendix A.2, Table 9 "ImageNet"): a linear classifier on the frozen
# ResNet-50 (weights AND BN statistics: frozen_stages=4, norm_eval=True), 100 epochs, batch 256
# (8 GPUs x 32), SGD momentum 0.9, lr 30, x0.1 at epochs 60 and 80; top-1 / top-5 on val.
# Weight decay: Revisiting A.2 states 1e-4 for the linear layer (the default here); the MoCo paper
# and mmpretrain's MoCo v2 benchmark use 0: `--cfg-options optim_wrapper.optimizer.weight_decay=0`.
# tools/benchmarks/linear_cls.sh CKPT [GPUS] --protocol moco
_base_ = [
    'mmpretrain::_base_/models/resnet50.py',
    'mmpretrain::_base_/datasets/imagenet_bs32_pil_resize.py',
    'mmpretrain::_base_/schedules/imagenet_sgd_steplr_100e.py',
    'mmpretrain::_base_/default_runtime.py',
]
default_scope = 'mmpretrain'
model = dict(backbone=dict(frozen_stages=4, norm_eval=True, init_cfg=None))
train_dataloader = dict(batch_size=32)
optim_wrapper = dict(optimizer=dict(type='SGD', lr=30.0, momentum=0.9, weight_decay=1e-4))
param_scheduler = [dict(type='MultiStepLR', by_epoch=True, milestones=[60, 80], gamma=0.1)]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=100, val_interval=10)
default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=10, max_keep_ckpts=2))
# the paper's batch: 256 = 8 GPUs x 32 (fewer GPUs: gradient accumulation keeps
# it, see densepre/transfer/effective_batch.py; --scale-lr: lr scaled linearly instead)
auto_scale_lr = dict(enable=True, base_batch_size=256)
pretrained_parts = [dict(module='backbone', prefix='backbone.')]
