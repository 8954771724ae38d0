# CPU demo transfer probe: the VOC12aug FCN benchmark, shrunk to ResNet-18, 96x96 crops and 300
# iterations on the synthetic demo VOC split (tools/demo.py).
_base_ = [
    '../benchmarks/mmsegmentation/voc12aug/fcn_r50-d8_4xb4-20k_voc12aug-512x512.py',
    '_base_/demo-voc12aug-seg_300it.py',
]

data_root = _base_.demo_voc_data_root
crop_size = (96, 96)
norm_cfg = dict(type='BN', requires_grad=True)
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(depth=18, norm_cfg=norm_cfg),
    decode_head=dict(in_channels=512, channels=128, norm_cfg=norm_cfg, num_classes=21),
    auxiliary_head=dict(in_channels=256, channels=64, norm_cfg=norm_cfg, num_classes=21))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomResize', scale=(128, 96), ratio_range=(0.75, 1.5), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='Pad', size=crop_size),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(128, 96), keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(
    _base_.demo_voc_train_dataloader,
    dataset=dict(_base_.demo_voc_train_dataloader.dataset, pipeline=train_pipeline))
val_dataloader = dict(
    _base_.demo_voc_val_dataloader,
    dataset=dict(_base_.demo_voc_val_dataloader.dataset, pipeline=test_pipeline))
test_dataloader = val_dataloader
train_cfg = _base_.demo_voc_train_cfg
param_scheduler = [dict(type='PolyLR', eta_min=1e-4, power=0.9, begin=0, end=300, by_epoch=False)]
default_hooks = _base_.demo_voc_default_hooks
auto_scale_lr = dict(enable=False, base_batch_size=8)
randomness = dict(seed=0)
