# CPU demo transfer of the LOCA demo checkpoint
# (configs/demo/loca_vit-tiny-p8_1xb32-64px-40e_demo.py): the Segmenter linear decoder (the VOC
# benchmark config, LOCA's protocol) on the same 2-layer, 64-dim ViT with 8-px patches, no class
# token, 64x64 crops, sliding-window inference, on the synthetic demo VOC split that
# tools/demo.py fine-tunes on. lr 3e-4: one of LOCA's sweep values {8e-5, 1e-4, 3e-4, 8e-4}, the
# largest but one, for a 300-iteration run.
_base_ = [
    '../benchmarks/mmsegmentation/voc12aug/segmenter-linear_vit-b16_8xb2-80k_voc12aug-512x512.py',
    '_base_/demo-voc12aug-seg_300it.py',
]

data_root = _base_.demo_voc_data_root
crop_size = (64, 64)
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(
        arch=dict(
            _delete_=True, embed_dims=64, num_layers=2, num_heads=2, feedforward_channels=128),
        img_size=64, patch_size=8),
    decode_head=dict(in_channels=64, channels=64, num_classes=21),
    test_cfg=dict(mode='slide', crop_size=crop_size, stride=(48, 48)))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomResize', scale=(128, 64), ratio_range=(0.75, 1.5), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='Pad', size=crop_size),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(128, 64), keep_ratio=True),
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
optim_wrapper = dict(optimizer=dict(lr=3e-4))
param_scheduler = [dict(type='PolyLR', power=0.9, eta_min=0.0, begin=0, end=300, by_epoch=False)]
train_cfg = _base_.demo_voc_train_cfg
default_hooks = _base_.demo_voc_default_hooks
auto_scale_lr = dict(enable=False, base_batch_size=8)
randomness = dict(seed=0)
