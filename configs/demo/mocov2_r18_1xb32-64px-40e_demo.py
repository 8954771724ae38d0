# CPU demo: MoCo v2 with ResNet-18 on the synthetic demo set (tools/demo.py), 64 px views.
_base_ = '../mocov2/mocov2_r50_8xb32_200e.py'

data_root = 'data/demo/imagenet/'
model = dict(
    queue_len=4096,
    backbone=dict(depth=18),
    neck=dict(in_channels=512, hid_channels=512))

view_pipeline = [
    dict(type='GeoRandomResizedCrop', scale=64, crop_ratio_range=(0.2, 1.), backend='pillow'),
    dict(
        type='RandomApply',
        transforms=[
            dict(type='ColorJitter', brightness=0.4, contrast=0.4, saturation=0.4, hue=0.1)
        ],
        prob=0.8),
    dict(type='RandomGrayscale', prob=0.2, keep_channels=True,
         channel_weights=(0.114, 0.587, 0.2989)),
    dict(type='RandomFlip', prob=0.5),
]
train_dataloader = dict(
    batch_size=32,
    num_workers=2,
    dataset=dict(
        data_root=data_root,
        pipeline=[
            dict(type='LoadImageRobust'),
            dict(type='GeoMultiView', views=[dict(num=2, transforms=view_pipeline)]),
            dict(type='PackInputs', algorithm_keys=['view_geometry']),
        ]))
optim_wrapper = dict(type='AmpOptimWrapper', loss_scale='dynamic', optimizer=dict(lr=0.06))
param_scheduler = [dict(type='CosineAnnealingLR', T_max=40, by_epoch=True, begin=0, end=40)]
train_cfg = dict(max_epochs=40)
default_hooks = dict(logger=dict(interval=8), checkpoint=dict(interval=10, max_keep_ckpts=2))
# Dense quality during pretraining: linear per-pixel probe on the demo VOC split every 10 epochs.
custom_hooks = [
    dict(type='GlobalLossLogHook'),
    dict(type='FiniteLossHook'),
    dict(type='DenseProbeHook', data_root='data/demo/VOCdevkit/VOC2012', image_size=128,
         interval=10),
]
# Speed (docs/benchmarks.md): AMP (AmpOptimWrapper; the MoCo v2 base is fp32) runs bf16 autocast
# on a CPU with bf16 (train step 0.62x of fp32); channels-last measured no faster for this model
# at 64 px: off.
channels_last = False
