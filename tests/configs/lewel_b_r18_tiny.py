# Tiny LEWEL_B for CPU tests: ResNet-18, 64 px views (2x2 feature maps, so the alignment maps are
# not trivial), d = 32, h = 4, c = 16, batch 4, no workers.
_base_ = '../../configs/lewel/lewel_b_r50_8xb64_200e.py'

model = dict(
    backbone=dict(depth=18),
    neck=dict(in_channels=512, hid_channels=64, out_channels=32),
    aligned_projector=dict(in_channels=512, hid_channels=64, out_channels=16),
    head=dict(predictor=dict(in_channels=32, hid_channels=64, out_channels=32)),
    aligned_head=dict(predictor=dict(in_channels=16, hid_channels=64, out_channels=16)))
view_pipeline = [
    dict(type='GeoRandomResizedCrop', scale=64, crop_ratio_range=(0.08, 1.)),
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
optim_wrapper = dict(optimizer=dict(lr=0.2))
param_scheduler = [dict(type='CosineAnnealingLR', T_max=2, by_epoch=True, begin=0, end=2)]
train_cfg = dict(max_epochs=2)
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=1, max_keep_ckpts=3))
randomness = dict(seed=0)
