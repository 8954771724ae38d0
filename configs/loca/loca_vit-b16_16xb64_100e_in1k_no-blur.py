# LOCA recipe without Gaussian blur: what the authors' code runs. Its config asks for blur (p 1 /
# 0.1 / 0.5), but `random_blur(p)` puts p in the op's first argument, the image height, so the
# kernel has height // 10 = 0 -> 1 tap and no view is blurred (configs/loca/README.md).
_base_ = './loca_vit-b16_16xb64_100e_in1k.py'

colour = [
    dict(type='RandomApply', prob=0.8, transforms=[
        dict(type='ColorJitter', brightness=0.4, contrast=0.4, saturation=0.2, hue=0.1)]),
    dict(type='RandomGrayscale', prob=0.2, keep_channels=True,
         channel_weights=(0.114, 0.587, 0.2989)),
]
crop = dict(type='GeoRandomResizedCrop', interpolation='bicubic', backend='pillow')
flip = dict(type='RandomFlip', prob=0.5)
train_dataloader = dict(dataset=dict(pipeline=[
    dict(type='LoadImageRobust'),
    dict(type='GeoMultiView', views=[
        dict(num=1, name='reference',
             transforms=[dict(crop, scale=224, crop_ratio_range=(0.32, 1.))] + colour),
        dict(num=1, name='query',
             transforms=[dict(crop, scale=224, crop_ratio_range=(0.32, 1.)), flip] + colour +
             [dict(type='Solarize', thr=128, prob=0.2)]),
        dict(num=9, name='query',
             transforms=[dict(crop, scale=96, crop_ratio_range=(0.05, 0.32)), flip] + colour),
    ]),
    dict(type='PackInputs', algorithm_keys=['view_geometry', 'view_groups']),
]))
