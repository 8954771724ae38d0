# Tiny kNN-MoCo for CPU tests: the shipped Table-4 "+kNN" config (COCO images, constrained
# multi-crop, A+) scaled down: ResNet-18, 32 px query/key + 4 x 16 px small crops, batch 4,
# queue 16, k = 4, nn loss from epoch 1 (the second epoch), no workers.
_base_ = '../../configs/revisiting/knn-mocov2-mc-cc-m0995-aplus_r50_8xb32-coco_200e.py'

model = dict(
    queue_len=16,
    feat_dim=32,
    knn_k=4,
    warmup_epochs=1,
    backbone_dim=512,
    backbone=dict(depth=18),
    neck=dict(in_channels=512, hid_channels=64, out_channels=32))
colour = [
    dict(type='RandomApply', transforms=[dict(type='ColorJitter', brightness=0.4, contrast=0.4,
                                              saturation=0.4, hue=0.1)], prob=0.8),
]
aplus = dict(type='APlusAugment', standard=colour, policies='imagenet', prob=0.5)
large_crop = dict(type='GeoRandomResizedCrop', scale=32, crop_ratio_range=(0.2, 1.))
small_crop = dict(type='GeoRandomResizedCrop', scale=16, crop_ratio_range=(0.05, 0.14),
                  min_overlap=0.2, overlap_tries=10)
flip = dict(type='RandomFlip', prob=0.5)
train_dataloader = dict(
    batch_size=4,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(pipeline=[
        dict(type='LoadImageRobust'),
        dict(type='GeoMultiView', views=[
            dict(num=1, name='query', transforms=[large_crop, aplus, flip]),
            dict(num=1, name='key', transforms=[large_crop, *colour, flip]),
            dict(num=4, name='local', overlap_with=1, transforms=[small_crop, aplus, flip]),
        ]),
        dict(type='PackInputs', algorithm_keys=['view_geometry', 'view_groups']),
    ]))
param_scheduler = [dict(type='CosineAnnealingLR', T_max=2, by_epoch=True, begin=0, end=2)]
train_cfg = dict(max_epochs=2)
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=1, max_keep_ckpts=3))
randomness = dict(seed=0)
