# IN-1K semi-supervised classification with 10 % of the labels (LEWEL, Huang et al. CVPR 2022,
# Sec. 4.2 / Table 2): the whole ResNet-50 + a linear classifier are fine-tuned on SimCLR's 10 %
# subset (Chen et al. 2020) for 50 epochs; classifier lr 0.1, backbone lr 0.01, both x0.1 at
# epochs 30 and 40; top-1 / top-5 on the full val set.
# Not stated in the paper, so LEWEL's released main_semi.py (scripts/srun_semi_*p.sh): SGD momentum
# 0.9, weight decay 1e-4 on every parameter (its --wd default; the scripts pass none), batch 256
# (8 GPUs x 32), BN in train mode, RandomResizedCrop 224 + flip.
# Data: the user supplies data/imagenet/meta/train_10percent.txt, SimCLR's 10percent.txt
# subset in mmpretrain's ann-file format ("n01440764/n01440764_10026.JPEG 0" per line); see
# docs/transfer_segmentation_classification.md for the one-line conversion.
# tools/benchmarks/semi_cls.sh CKPT 10 [GPUS]
_base_ = [
    'mmpretrain::_base_/models/resnet50.py',
    'mmpretrain::_base_/datasets/imagenet_bs32_pil_resize.py',
    'mmpretrain::_base_/schedules/imagenet_sgd_steplr_100e.py',
    'mmpretrain::_base_/default_runtime.py',
]
default_scope = 'mmpretrain'
model = dict(backbone=dict(frozen_stages=-1, norm_eval=False, init_cfg=None))
train_dataloader = dict(
    batch_size=32, dataset=dict(split='train', ann_file='meta/train_10percent.txt'))
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=1e-4),
    # classifier lr 0.1, backbone lr 0.1 x 0.1 = 0.01
    paramwise_cfg=dict(custom_keys={'backbone': dict(lr_mult=0.1)}))
param_scheduler = [dict(type='MultiStepLR', by_epoch=True, milestones=[30, 40], gamma=0.1)]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=50, val_interval=10)
default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=10, max_keep_ckpts=2))
# the paper's batch: 256 = 8 GPUs x 32 (fewer GPUs: gradient accumulation keeps
# it, see densepre/transfer/effective_batch.py; --scale-lr: lr scaled linearly instead)
auto_scale_lr = dict(enable=True, base_batch_size=256)
pretrained_parts = [dict(module='backbone', prefix='backbone.')]
