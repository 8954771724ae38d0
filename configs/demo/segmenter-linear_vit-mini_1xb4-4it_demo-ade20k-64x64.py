# CPU demo of the LOCA few-shot ADE20k benchmark (tools/benchmarks/ade20k_linear.sh --fraction
# --fold): the Segmenter linear decoder on a 2-layer, 64-dim mmpretrain ViT/16 (img_size 64, no
# class token), 64x64 crops, sliding-window inference, 4 iterations on the synthetic demo ADE20k
# set (densepre.demo.cityscapes_ade20k.make_demo_ade20k). The checkpoint must hold a
# `backbone.`-prefixed mmpretrain VisionTransformer with
#   arch=dict(embed_dims=64, num_layers=2, num_heads=2, feedforward_channels=128), img_size=64.
#   CONFIG=configs/demo/segmenter-linear_vit-mini_1xb4-4it_demo-ade20k-64x64.py \
#     tools/benchmarks/ade20k_linear.sh CKPT --data-root DIR --fraction 1/4 --fold 1
_base_ = ('../benchmarks/mmsegmentation/ade20k/'
          'segmenter-linear_vit-b16_8xb2-160k_ade20k-fewshot-512x512.py')

data_root = 'data/demo/ade/ADEChallengeData2016'
crop_size = (64, 64)
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(
        arch=dict(
            _delete_=True, embed_dims=64, num_layers=2, num_heads=2, feedforward_channels=128),
        img_size=64),
    decode_head=dict(in_channels=64, channels=64),
    test_cfg=dict(mode='slide', crop_size=crop_size, stride=(48, 48)))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='RandomResize', scale=(256, 64), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(256, 64), keep_ratio=True),
    dict(type='LoadAnnotations', reduce_zero_label=True),
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
param_scheduler = [dict(type='PolyLR', power=0.9, eta_min=0.0, begin=0, end=4, by_epoch=False)]
train_cfg = dict(max_iters=4, val_interval=4)
default_hooks = dict(
    logger=dict(interval=1),
    checkpoint=dict(interval=4, max_keep_ckpts=1),
    visualization=dict(type='SegVisualizationHook', draw=False))
auto_scale_lr = dict(enable=False, base_batch_size=4)
