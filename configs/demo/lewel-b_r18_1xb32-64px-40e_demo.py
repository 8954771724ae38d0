# CPU demo: LEWEL_B with ResNet-18 on the synthetic demo set, 64 px views (tools/demo.py
# --pretrain-config <this>). d = c = 128, h = 4 (32 aligned embeddings), beta = 0.5.
_base_ = '../lewel/lewel_b_r50_8xb64_200e.py'

data_root = 'data/demo/imagenet/'
model = dict(
    backbone=dict(depth=18),
    neck=dict(in_channels=512, hid_channels=1024, out_channels=128),
    aligned_projector=dict(in_channels=512, hid_channels=1024, out_channels=128),
    head=dict(predictor=dict(in_channels=128, hid_channels=1024, out_channels=128)),
    aligned_head=dict(predictor=dict(in_channels=128, hid_channels=1024, out_channels=128)))

view_pipeline1 = [
    dict(type='GeoRandomResizedCrop', scale=64, crop_ratio_range=(0.2, 1.), backend='pillow'),
    dict(type='RandomFlip', prob=0.5),
    dict(
        type='RandomApply',
        transforms=[
            dict(type='ColorJitter', brightness=0.4, contrast=0.4, saturation=0.2, hue=0.1)
        ],
        prob=0.8),
    dict(type='RandomGrayscale', prob=0.2, keep_channels=True,
         channel_weights=(0.114, 0.587, 0.2989)),
    dict(type='Solarize', thr=128, prob=0.),
]
view_pipeline2 = view_pipeline1[:4] + [dict(type='Solarize', thr=128, prob=0.2)]
train_dataloader = dict(
    batch_size=32,
    num_workers=2,
    dataset=dict(
        data_root=data_root,
        pipeline=[
            dict(type='LoadImageRobust'),
            dict(type='GeoMultiView', views=[
                dict(num=1, transforms=view_pipeline1),
                dict(num=1, transforms=view_pipeline2),
            ]),
            dict(type='PackInputs', algorithm_keys=['view_geometry']),
        ]))
# lr 1.8 is for batch 512; linear scaling to 32 gives 0.1125.
optim_wrapper = dict(optimizer=dict(lr=1.8 * 32 / 512))
param_scheduler = [dict(type='CosineAnnealingLR', T_max=40, by_epoch=True, begin=0, end=40)]
train_cfg = dict(max_epochs=40)
default_hooks = dict(logger=dict(interval=8), checkpoint=dict(interval=10, max_keep_ckpts=2))
custom_hooks = [
    dict(type='GlobalLossLogHook'),
    dict(type='FiniteLossHook'),
    dict(type='DenseProbeHook', data_root='data/demo/VOCdevkit/VOC2012', image_size=128,
         interval=10),
]
# Speed (docs/benchmarks.md): AMP (inherited AmpOptimWrapper) runs bf16 autocast on a CPU with bf16;
# channels-last measured faster for this model (train step 0.54x vs 0.59x of fp32 in bf16).
channels_last = True
