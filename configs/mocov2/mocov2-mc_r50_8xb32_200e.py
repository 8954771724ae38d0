# MoCo v2 with multi-crop (Revisiting-Contrastive Sec. 4, "MC"): two large crops (160 px, scale
# 0.2-1) — the query and the key — plus 4 small crops (96 px, scale 0.05-0.14; the paper leaves
# the number open, its released code uses 4). Small crops are extra queries of the key: never
# encoded by the key encoder, never enqueued (view_pairs). Everything else is MoCo v2
# (mocov2_r50_8xb32_200e.py). Views of one size go through the encoder as one batch.
_base_ = './mocov2_r50_8xb32_200e.py'

large_crop = [
    dict(type='GeoRandomResizedCrop', scale=160, crop_ratio_range=(0.2, 1.), backend='pillow'),
    dict(
        type='RandomApply',
        transforms=[
            dict(type='ColorJitter', brightness=0.4, contrast=0.4, saturation=0.4, hue=0.1)
        ],
        prob=0.8),
    dict(type='RandomGrayscale', prob=0.2, keep_channels=True,
         channel_weights=(0.114, 0.587, 0.2989)),
    dict(type='GaussianBlur', magnitude_range=(0.1, 2.0), magnitude_std='inf', prob=0.5),
    dict(type='RandomFlip', prob=0.5),
]
small_crop = [dict(large_crop[0], scale=96, crop_ratio_range=(0.05, 0.14)), *large_crop[1:]]
train_dataloader = dict(dataset=dict(pipeline=[
    dict(type='LoadImageRobust'),
    dict(type='GeoMultiView', views=[
        dict(num=1, name='query', transforms=large_crop),
        dict(num=1, name='key', transforms=large_crop),
        dict(num=4, name='local', transforms=small_crop),
    ]),
    dict(type='PackInputs', algorithm_keys=['view_geometry', 'view_groups']),
]))

model = dict(view_pairs=dict(keys=['key'], queries=['query', 'local']))
