# CPU demo of the Revisiting Cityscapes FCN (tools/benchmarks/cityscapes_seg.sh): ResNet-18 with
# the same dilated layer4 and 2 x [3x3 conv, BN, ReLU] + 1x1 head (64 channels), Adam 1e-4 poly,
# 64x64 crops, 2 epochs on the synthetic demo Cityscapes set
# (densepre.demo.cityscapes_ade20k.make_demo_cityscapes).
#   CONFIG=configs/demo/fcn-revisiting_r18-d16_1xb4-2e_demo-cityscapes-64x64.py \
#     tools/benchmarks/cityscapes_seg.sh CKPT --cfg-options \
#     train_dataloader.dataset.data_root=DIR val_dataloader.dataset.data_root=DIR \
#     test_dataloader.dataset.data_root=DIR
_base_ = ('../benchmarks/mmsegmentation/cityscapes/'
          'fcn-revisiting_r50-d16_4xb4-150e_cityscapes-768x768.py')

data_root = 'data/demo/cityscapes'
crop_size = (64, 64)
norm_cfg = dict(type='BN', requires_grad=True)
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(depth=18, norm_cfg=norm_cfg),
    decode_head=dict(in_channels=512, channels=64, norm_cfg=norm_cfg))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomResize', scale=(128, 64), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(128, 64), keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(
    batch_size=4,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader
param_scheduler = [
    dict(type='PolyLR', power=0.9, eta_min=0.0, begin=0, end=2, by_epoch=True,
         convert_to_iter_based=True)
]
train_cfg = dict(max_epochs=2, val_interval=2)
default_hooks = dict(
    logger=dict(interval=1),
    checkpoint=dict(interval=2, max_keep_ckpts=1),
    visualization=dict(type='SegVisualizationHook', draw=False))
auto_scale_lr = dict(enable=False, base_batch_size=4)
randomness = dict(seed=0)
