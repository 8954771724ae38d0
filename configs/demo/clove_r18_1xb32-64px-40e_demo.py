# CPU demo: CLoVE with ResNet-18 on the synthetic demo set (tools/demo.py --pretrain-config <this>):
# 2 global 64 px + 2 local 32 px views (2 rather than the paper's 6 to keep the demo short on CPU).
# The last ResNet stage keeps stride 1 (output stride 16), so the maps are 4x4 (global) and 2x2
# (local) cells instead of 2x2 and 1x1: matching and attention need more than one cell. The
# transferred weights are the same (stride changes no parameter). Projector 512 -> 1024 -> 128,
# NMHSA 4 heads x 32.
_base_ = '../clove/clove_r50_4xb512-lars_200e.py'

data_root = 'data/demo/imagenet/'
model = dict(
    backbone=dict(depth=18, strides=(1, 2, 2, 1), norm_cfg=dict(type='BN')),
    neck=dict(in_channels=512, hid_channels=1024, out_channels=128, norm_cfg=dict(type='BN')),
    predictor=dict(embed_dims=128, num_heads=4, head_dims=32))

global_crop = dict(type='GeoRandomResizedCrop', scale=64, crop_ratio_range=(0.2, 1.),
                   backend='pillow')
local_crop = dict(type='GeoRandomResizedCrop', scale=32, crop_ratio_range=(0.08, 0.3),
                  backend='pillow')
colour = [
    dict(type='RandomFlip', prob=0.5),
    dict(type='RandomApply', transforms=[
        dict(type='ColorJitter', brightness=0.4, contrast=0.4, saturation=0.2, hue=0.1)],
        prob=0.8),
    dict(type='RandomGrayscale', prob=0.2, keep_channels=True,
         channel_weights=(0.114, 0.587, 0.2989)),
]
train_dataloader = dict(
    batch_size=32,
    num_workers=2,
    dataset=dict(
        data_root=data_root,
        pipeline=[
            dict(type='LoadImageRobust'),
            dict(type='GeoMultiView', views=[
                dict(num=1, name='global', transforms=[global_crop, *colour]),
                dict(num=1, name='global', transforms=[
                    global_crop, *colour, dict(type='Solarize', thr=128, prob=0.2)]),
                dict(num=2, name='local', transforms=[local_crop, *colour]),
            ]),
            dict(type='PackInputs', algorithm_keys=['view_geometry', 'view_groups']),
        ]))
# lr 8.0 is for batch 2048; linear scaling to 32 gives 0.125. One cosine schedule (tools/demo.py
# sets param_scheduler.0.T_max / end to the number of epochs).
optim_wrapper = dict(optimizer=dict(lr=8.0 * 32 / 2048))
param_scheduler = [dict(type='CosineAnnealingLR', T_max=40, by_epoch=True, begin=0, end=40)]
train_cfg = dict(max_epochs=40)
default_hooks = dict(logger=dict(interval=8), checkpoint=dict(interval=10, max_keep_ckpts=2))
custom_hooks = [
    dict(type='GlobalLossLogHook'),
    dict(type='FiniteLossHook'),
    dict(type='DenseProbeHook', data_root='data/demo/VOCdevkit/VOC2012', image_size=128,
         interval=10),
]
