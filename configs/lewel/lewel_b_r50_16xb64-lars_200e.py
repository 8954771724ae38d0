# LEWEL_B with the recipe of the authors' released 200-epoch script (scripts/*lewelb_eman.sh), not
# the paper's text: the LARS recipe of configs/_base_/schedules/lars_coslr-200e.py (lr 3.6 at a
# total batch of 1024 = 16 x 64, wd 1.5e-6, biases and norm parameters without wd and without the
# LARS adaptation, 10-epoch warm-up, cosine), crop scale (0.2, 1) bilinear, h = 4, temperature 1,
# EMA 0.98 -> 1 cosine with EMAN. Batch 4096: 64 processes with --auto-scale-lr (linear from 1024).
# The release-equivalent model (also its head init and bias-free heads; joint BN and EMAN are
# already the defaults) is lewel_b_r50_16xb64-release_200e.py.
_base_ = ['lewel_b_r50_8xb64_200e.py', '../_base_/schedules/lars_coslr-200e.py']

model = dict(num_groups=4, temperature=1.0)
optim_wrapper = {{_base_.lars_optim_wrapper}}
param_scheduler = {{_base_.lars_param_scheduler}}
auto_scale_lr = {{_base_.lars_auto_scale_lr}}

# Released code: torchvision RandomResizedCrop, scale (0.2, 1), bilinear, in both views (the rest is
# BYOL's augmentation; the paper-named configs keep mmpretrain BYOL's bicubic, the paper is silent).
view_pipeline1 = [
    dict(type='GeoRandomResizedCrop', scale=224, crop_ratio_range=(0.2, 1.),
         interpolation='bilinear', backend='pillow'),
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
         interpolation='bilinear', backend='pillow'),
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
