# Tiny multi-crop BYOL for CPU tests: ResNet-18, 2 x 32 px global + 3 x 16 px local views,
# batch 4, no workers (exact resume).
_base_ = '../../configs/byol/byol-mc_r50_8xb64_200e.py'

model = dict(
    backbone=dict(depth=18),
    neck=dict(in_channels=512, hid_channels=64, out_channels=32),
    head=dict(predictor=dict(in_channels=32, hid_channels=64, out_channels=32)))
global_crop = [
    dict(type='GeoRandomResizedCrop', scale=32, crop_ratio_range=(0.08, 1.)),
    dict(type='RandomFlip', prob=0.5),
    dict(type='RandomApply', transforms=[dict(type='ColorJitter', brightness=0.4, contrast=0.4,
                                              saturation=0.2, hue=0.1)], prob=0.8),
]
local_crop = [dict(global_crop[0], scale=16, crop_ratio_range=(0.05, 0.14)), *global_crop[1:]]
train_dataloader = dict(
    batch_size=4,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(pipeline=[
        dict(type='LoadImageRobust'),
        dict(type='GeoMultiView', views=[
            dict(num=2, name='global', transforms=global_crop),
            dict(num=3, name='local', transforms=local_crop),
        ]),
        dict(type='PackInputs', algorithm_keys=['view_geometry', 'view_groups']),
    ]))
optim_wrapper = dict(optimizer=dict(lr=0.2))
param_scheduler = [dict(type='CosineAnnealingLR', T_max=2, by_epoch=True, begin=0, end=2)]
train_cfg = dict(max_epochs=2)
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=1, max_keep_ckpts=3))
randomness = dict(seed=0)
