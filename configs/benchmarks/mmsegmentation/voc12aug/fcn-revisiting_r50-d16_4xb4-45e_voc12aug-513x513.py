# Revisiting Contrastive Methods (Van Gansbeke et al., NeurIPS 2021), appendix A.3 "PASCAL VOC"
# (Tables 3, 4, 9: VOC mIoU): FCN on ResNet-50 whose last stage (layer4) has stride 1 and
# dilation 2 (output stride 16), then 2 x [3x3 conv 256, dilation 6, BN, ReLU] and a 1x1
# classifier. 45 epochs on train_aug2012 (10,582 images), batch 16 (4 GPUs x 4), SGD momentum 0.9,
# lr 0.003, x0.1 after epochs 30 and 40, weight decay 1e-4, random scaling 0.5-2.0 + flip,
# 513x513 random crops; mIoU on val2012. The paper reports the mean of 5 runs: repeat with
# `--cfg-options randomness.seed=K`.
# Choices the paper leaves open (ours): no auxiliary head, no dropout before the classifier, no
# photometric distortion, plain random crops (no cat_max_ratio), SyncBN (-> BN on one GPU),
# torchvision-style dilation (the first layer4 block keeps dilation 1: contract_dilation), scale
# augmentation relative to the original VOC image size, whole-image evaluation at the original
# resolution.
# The backbone is mmseg's `ResNet` (torchvision stem), never `ResNetV1c`.
_base_ = [
    '../_base_/fcn-revisiting_r50-d16.py',
    'mmseg::_base_/datasets/pascal_voc12_aug.py',
    'mmseg::_base_/default_runtime.py',
]
default_scope = 'mmseg'
crop_size = (513, 513)
data_preprocessor = dict(size=crop_size)
model = dict(data_preprocessor=data_preprocessor)

data_root = 'data/VOCdevkit/VOC2012'
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    # (500, 500) with keep_ratio leaves a VOC image (long side <= 500) at its own size: the
    # 0.5-2.0 ratio is relative to the original image as in the paper.
    dict(type='RandomResize', scale=(500, 500), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size),
    dict(type='RandomFlip', prob=0.5),
    dict(type='Pad', size=crop_size),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(
    batch_size=4,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type='ConcatDataset',
        datasets=[
            dict(
                type='PascalVOCDataset',
                data_root=data_root,
                data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClass'),
                ann_file='ImageSets/Segmentation/train.txt',
                pipeline=train_pipeline),
            dict(
                type='PascalVOCDataset',
                data_root=data_root,
                data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClassAug'),
                ann_file='ImageSets/Segmentation/aug.txt',
                pipeline=train_pipeline),
        ]))
val_dataloader = dict(dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.003, momentum=0.9, weight_decay=1e-4),
    clip_grad=None)
param_scheduler = [dict(type='MultiStepLR', milestones=[30, 40], gamma=0.1, by_epoch=True)]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=45, val_interval=15)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=True),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', by_epoch=True, interval=5, max_keep_ckpts=2),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook'))
log_processor = dict(by_epoch=True)
# the paper's batch: 16 = 4 GPUs x 4 (fewer GPUs: gradient accumulation keeps
# it, see densepre/transfer/effective_batch.py; --scale-lr: lr scaled linearly instead)
auto_scale_lr = dict(enable=True, base_batch_size=16)
