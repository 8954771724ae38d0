# ImageNet-1K, two asymmetric views with the BYOL augmentation (BYOL Table 6; LEWEL Sec. 3.3).
# BYOL / the LEWEL paper crop with scale (0.08, 1); LEWEL's released code uses (0.2, 1):
# set `crop_ratio_range=(0.2, 1.)` in both views to follow it.
dataset_type = 'ImageList'
data_root = 'data/imagenet/'
data_preprocessor = dict(
    type='SelfSupDataPreprocessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True)


view_pipeline1 = [
    dict(type='GeoRandomResizedCrop', scale=224, crop_ratio_range=(0.08, 1.),
         interpolation='bicubic', backend='pillow'),
    dict(type='RandomFlip', prob=0.5),
    dict(
        type='RandomApply',
        transforms=[
            dict(type='ColorJitter', brightness=0.4, contrast=0.4, saturation=0.2, hue=0.1)
        ],
        prob=0.8),
    dict(type='RandomGrayscale', prob=0.2, keep_channels=True,
         channel_weights=(0.114, 0.587, 0.2989)),
    dict(type='GaussianBlur', magnitude_range=(0.1, 2.0), magnitude_std='inf', prob=1.),
    dict(type='Solarize', thr=128, prob=0.),
]
# Second view: the same, but blur p=0.1 and solarize p=0.2 (the BYOL asymmetry).
view_pipeline2 = view_pipeline1[:4] + [
    dict(view_pipeline1[4], prob=0.1),
    dict(view_pipeline1[5], prob=0.2),
]
train_pipeline = [
    dict(type='LoadImageRobust'),
    dict(type='GeoMultiView', views=[
        dict(num=1, name='global', transforms=view_pipeline1),
        dict(num=1, name='global', transforms=view_pipeline2),
    ]),
    dict(type='PackInputs', algorithm_keys=['view_geometry', 'view_groups']),
]
train_dataloader = dict(
    batch_size=64,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    drop_last=True,
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='meta/train.txt',
        data_prefix=dict(img_path='train/'),
        pipeline=train_pipeline))
