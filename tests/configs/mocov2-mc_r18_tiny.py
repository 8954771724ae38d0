# Tiny multi-crop MoCo v2 for CPU tests: ResNet-18, 32 px query/key + 4 x 16 px small crops (the
# shipped 160 + 96 px layout scaled down), batch 4, no workers (exact resume).
_base_ = '../../configs/mocov2/mocov2-mc_r50_8xb32_200e.py'

model = dict(
    queue_len=64,
    feat_dim=32,
    backbone=dict(depth=18),
    neck=dict(in_channels=512, hid_channels=64, out_channels=32))
large_crop = [
    dict(type='GeoRandomResizedCrop', scale=32, crop_ratio_range=(0.2, 1.)),
    dict(type='RandomApply', transforms=[dict(type='ColorJitter', brightness=0.4, contrast=0.4,
                                              saturation=0.4, hue=0.1)], prob=0.8),
    dict(type='RandomFlip', prob=0.5),
]
small_crop = [dict(large_crop[0], scale=16, crop_ratio_range=(0.05, 0.14)), *large_crop[1:]]
train_dataloader = dict(
    batch_size=4,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(pipeline=[
        dict(type='LoadImageRobust'),
        dict(type='GeoMultiView', views=[
            dict(num=1, name='query', transforms=large_crop),
            dict(num=1, name='key', transforms=large_crop),
            dict(num=4, name='local', transforms=small_crop),
        ]),
        dict(type='PackInputs', algorithm_keys=['view_geometry', 'view_groups']),
    ]))
param_scheduler = [dict(type='CosineAnnealingLR', T_max=2, by_epoch=True, begin=0, end=2)]
train_cfg = dict(max_epochs=2)
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=1, max_keep_ckpts=3))
randomness = dict(seed=0)
