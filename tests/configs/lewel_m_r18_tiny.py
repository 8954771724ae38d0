# Tiny LEWEL_M for CPU tests: ResNet-18, 64 px views (2x2 feature maps), d = 32, h = 4, c = 16,
# queue 64, batch 4, no workers.
_base_ = '../../configs/lewel/lewel_m_r50_8xb32_200e.py'

model = dict(
    queue_len=64,
    feat_dim=32,
    backbone=dict(depth=18),
    neck=dict(in_channels=512, hid_channels=64, out_channels=32),
    aligned_projector=dict(in_channels=512, hid_channels=64, out_channels=16))
view_pipeline = [
    dict(type='GeoRandomResizedCrop', scale=64, crop_ratio_range=(0.2, 1.)),
    dict(type='RandomFlip', prob=0.5),
]
train_dataloader = dict(
    batch_size=4,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(pipeline=[
        dict(type='LoadImageRobust'),
        dict(type='GeoMultiView', views=[dict(num=2, transforms=view_pipeline)]),
        dict(type='PackInputs', algorithm_keys=['view_geometry']),
    ]))
param_scheduler = [dict(type='CosineAnnealingLR', T_max=2, by_epoch=True, begin=0, end=2)]
train_cfg = dict(max_epochs=2)
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=1, max_keep_ckpts=3))
randomness = dict(seed=0)
