# Tiny CLoVE for CPU tests: the demo config (ResNet-18 with output stride 16) at batch 4, 2 global
# 64 px views (4x4 cells) + 2 local 32 px views (2x2), projector 512 -> 64 -> 32, NMHSA 4 x 8,
# plain BN (the paper config's SyncBN), no workers, no probe hook.
_base_ = '../../configs/demo/clove_r18_1xb32-64px-40e_demo.py'

model = dict(
    neck=dict(hid_channels=64, out_channels=32),
    predictor=dict(embed_dims=32, num_heads=4, head_dims=8))
global_crop = dict(type='GeoRandomResizedCrop', scale=64, crop_ratio_range=(0.2, 1.),
                   backend='pillow')
local_crop = dict(type='GeoRandomResizedCrop', scale=32, crop_ratio_range=(0.08, 0.3),
                  backend='pillow')
flip = dict(type='RandomFlip', prob=0.5)
train_dataloader = dict(
    batch_size=4,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(pipeline=[
        dict(type='LoadImageRobust'),
        dict(type='GeoMultiView', views=[
            dict(num=2, name='global', transforms=[global_crop, flip]),
            dict(num=2, name='local', transforms=[local_crop, flip]),
        ]),
        dict(type='PackInputs', algorithm_keys=['view_geometry', 'view_groups']),
    ]))
param_scheduler = [dict(type='CosineAnnealingLR', T_max=2, by_epoch=True, begin=0, end=2)]
train_cfg = dict(max_epochs=2)
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=1, max_keep_ckpts=3))
custom_hooks = [dict(type='GlobalLossLogHook'), dict(type='FiniteLossHook')]
randomness = dict(seed=0)
