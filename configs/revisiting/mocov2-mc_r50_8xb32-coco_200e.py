# Table 4, "+MC": two 160-px crops (scale 0.2-1; view 0 the query, view 1 the key/anchor) plus
# N = 4 small 96-px crops (scale 0.05-0.14; the paper leaves N open, the released code uses 4).
# Small crops are extra positives of the key only: never encoded by the key encoder, never
# enqueued (view_pairs). Views of one size share one backbone pass.
_base_ = './mocov2_r50_8xb32-coco_200e.py'

num_small_crops = 4
colour = [
    dict(
        type='RandomApply',
        transforms=[
            dict(type='ColorJitter', brightness=0.4, contrast=0.4, saturation=0.4, hue=0.1)
        ],
        prob=0.8),
    dict(type='RandomGrayscale', prob=0.2, keep_channels=True,
         channel_weights=(0.114, 0.587, 0.2989)),
    dict(type='GaussianBlur', magnitude_range=(0.1, 2.0), magnitude_std='inf', prob=0.5),
]
large_crop = dict(type='GeoRandomResizedCrop', scale=160, crop_ratio_range=(0.2, 1.),
                  backend='pillow')
small_crop = dict(type='GeoRandomResizedCrop', scale=96, crop_ratio_range=(0.05, 0.14),
                  backend='pillow')
flip = dict(type='RandomFlip', prob=0.5)
train_dataloader = dict(dataset=dict(pipeline=[
    dict(type='LoadImageRobust'),
    dict(type='GeoMultiView', views=[
        dict(num=1, name='query', transforms=[large_crop, *colour, flip]),
        dict(num=1, name='key', transforms=[large_crop, *colour, flip]),
        dict(num=num_small_crops, name='local', transforms=[small_crop, *colour, flip]),
    ]),
    dict(type='PackInputs', algorithm_keys=['view_geometry', 'view_groups']),
]))

model = dict(view_pairs=dict(keys=['key'], queries=['query', 'local']))
