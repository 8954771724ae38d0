# BYOL with multi-crop: the two asymmetric 224-px views of byol_r50_8xb64_200e.py (group 'global')
# + 6 small 96-px crops (group 'local'). The target network encodes the global views only; the
# online network predicts each global target from every other view (7 pairs per target, the loss
# scaled by 2/|pairs| so that two views give BYOL's Eq. 4). BYOL has no multi-crop recipe: the
# small crops follow SwAV (96 px, scale 0.05-0.14) with BYOL's first-view colour augmentation and
# blur p=0.5 (densepre's choice). Views of one size go through each network as one batch.
_base_ = './byol_r50_8xb64_200e.py'

small_crop = [
    dict(type='GeoRandomResizedCrop', scale=96, crop_ratio_range=(0.05, 0.14),
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
    dict(type='GaussianBlur', magnitude_range=(0.1, 2.0), magnitude_std='inf', prob=0.5),
]
train_dataloader = dict(dataset=dict(pipeline=[
    dict(type='LoadImageRobust'),
    dict(type='GeoMultiView', views=[
        dict(num=1, name='global', transforms={{_base_.view_pipeline1}}),
        dict(num=1, name='global', transforms={{_base_.view_pipeline2}}),
        dict(num=6, name='local', transforms=small_crop),
    ]),
    dict(type='PackInputs', algorithm_keys=['view_geometry', 'view_groups']),
]))

model = dict(view_pairs=dict(keys=['global'], queries=['global', 'local']))
