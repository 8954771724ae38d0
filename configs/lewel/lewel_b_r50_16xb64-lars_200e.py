# LEWEL_B with the recipe of the authors' released scripts (not the paper's text): LARS lr 3.6 at a
# total batch of 1024 (16 x 64), wd 1e-6 with biases and BN excluded from wd and from the LARS
# adaptation, 10-epoch linear warm-up then cosine (as configs/byol/byol_r50_16xb64-lars_200e.py),
# crop scale (0.2, 1), h = 4, map temperature 1.0, EMA 0.98 -> 1 cosine.
# Batch 4096 (the released 4096 setting): run on 64 processes with --auto-scale-lr, which scales
# lr linearly from base_batch_size=1024 (densepre's assumption; not checked against a release).
_base_ = 'lewel_b_r50_8xb64_200e.py'

model = dict(num_groups=4, temperature=1.0)
optim_wrapper = dict(
    optimizer=dict(_delete_=True, type='LARS', lr=3.6, momentum=0.9, weight_decay=1e-6),
    paramwise_cfg=dict(
        norm_decay_mult=0.0, bias_decay_mult=0.0,
        custom_keys={'bn': dict(lars_exclude=True), 'bias': dict(lars_exclude=True)}))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=10,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=190, by_epoch=True, begin=10, end=200),
]
auto_scale_lr = dict(base_batch_size=1024)

# Released code: RandomResizedCrop scale (0.2, 1) in both views (the rest is BYOL's augmentation).
view_pipeline1 = [
    dict(type='GeoRandomResizedCrop', scale=224, crop_ratio_range=(0.2, 1.),
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
view_pipeline2 = [
    dict(type='GeoRandomResizedCrop', scale=224, crop_ratio_range=(0.2, 1.),
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
    dict(type='GaussianBlur', magnitude_range=(0.1, 2.0), magnitude_std='inf', prob=0.1),
    dict(type='Solarize', thr=128, prob=0.2),
]
train_dataloader = dict(dataset=dict(pipeline=[
    dict(type='LoadImageRobust'),
    dict(type='GeoMultiView', views=[
        dict(num=1, transforms=view_pipeline1),
        dict(num=1, transforms=view_pipeline2),
    ]),
    dict(type='PackInputs', algorithm_keys=['view_geometry']),
]))
