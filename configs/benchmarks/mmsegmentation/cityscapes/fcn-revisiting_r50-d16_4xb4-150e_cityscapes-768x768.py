# Revisiting Contrastive Methods (Van Gansbeke et al., NeurIPS 2021), appendix A.3 "Cityscapes"
# (Tables 3, 4, 9: Cityscapes mIoU): "the setup from PASCAL VOC is reused" -- ResNet-50 with
# layer4 stride 1 / dilation 2 (output stride 16), 2 x [3x3 conv 256, BN, ReLU] + 1x1 -- except
# that the dilation rate of the 3x3 convolutions IN THE HEAD is 1 (thin classes such as poles).
# 150 epochs on train_fine (2,975 images), batch 16 (4 GPUs x 4), Adam lr 1e-4 with poly decay
# (power 0.9), weight decay 1e-4 (L2, torch Adam), random scaling 0.5-2.0 + flip, 768x768 random
# crops; mIoU (19 classes) on val.
# Choices the paper leaves open (ours): no auxiliary head, no dropout, no photometric distortion,
# plain random crops, SyncBN (-> BN on one GPU), torchvision-style dilation (contract_dilation),
# whole-image evaluation at 2048x1024.
# The backbone is mmseg's `ResNet` (torchvision stem), never `ResNetV1c`.
_base_ = [
    '../_base_/fcn-revisiting_r50-d16.py',
    'mmseg::_base_/datasets/cityscapes.py',
    'mmseg::_base_/default_runtime.py',
]
default_scope = 'mmseg'
crop_size = (768, 768)
data_preprocessor = dict(size=crop_size)
model = dict(
    data_preprocessor=data_preprocessor,
    decode_head=dict(dilation=1, num_classes=19))

data_root = 'data/cityscapes/'
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomResize', scale=(2048, 1024), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(2048, 1024), keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(
    batch_size=4,
    num_workers=4,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='Adam', lr=1e-4, betas=(0.9, 0.999), weight_decay=1e-4),
    clip_grad=None)
param_scheduler = [
    dict(type='PolyLR', power=0.9, eta_min=0.0, begin=0, end=150, by_epoch=True,
         convert_to_iter_based=True)
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=150, val_interval=25)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=True),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', by_epoch=True, interval=10, max_keep_ckpts=2),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook'))
log_processor = dict(by_epoch=True)
# the paper's batch: 16 = 4 GPUs x 4 (fewer GPUs: gradient accumulation keeps
# it, see densepre/transfer/effective_batch.py; --scale-lr: lr scaled linearly instead)
auto_scale_lr = dict(enable=True, base_batch_size=16)
