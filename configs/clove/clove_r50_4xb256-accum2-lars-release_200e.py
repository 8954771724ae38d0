# CLoVE as the authors' released code trains it on one 4-GPU machine (tools/clove_base_r50_200ep.sh):
# 4 x 256 images with gradients accumulated over 2 steps (2048 per update), global crop scale
# (0.2, 1), plain multi-head attention (nn.MultiheadAttention: no q/k normalisation), and the
# released loss: per view pair, hinge of 2 x (mean positive / mean hard-negative similarity),
# hard negatives averaged as similarities. Differences listed in configs/clove/README.md.
_base_ = 'clove_r50_4xb512-lars_200e.py'

model = dict(
    ema_interval=2,  # = accumulative_counts: one target update per optimizer step, as released
    predictor=dict(normalize=False),
    loss=dict(negative='mean_similarity', reduction='image', similarity_scale=2.0))

global_crop = dict(type='GeoRandomResizedCrop', scale=224, crop_ratio_range=(0.2, 1.),
                   interpolation='bicubic', backend='pillow')
colour = [
    dict(type='RandomFlip', prob=0.5),
    dict(type='RandomApply', transforms=[
        dict(type='ColorJitter', brightness=0.4, contrast=0.4, saturation=0.2, hue=0.1)],
        prob=0.8),
    dict(type='RandomGrayscale', prob=0.2, keep_channels=True,
         channel_weights=(0.114, 0.587, 0.2989)),
]
blur = dict(type='GaussianBlur', magnitude_range=(0.1, 2.0), magnitude_std='inf', prob=1.)
train_dataloader = dict(
    batch_size=256,
    dataset=dict(pipeline=[
        dict(type='LoadImageRobust'),
        dict(type='GeoMultiView', views=[
            dict(num=1, name='global', transforms=[global_crop, *colour, blur]),
            dict(num=1, name='global', transforms=[
                global_crop, *colour, dict(blur, prob=0.1),
                dict(type='Solarize', thr=128, prob=0.2)]),
            dict(num={{_base_.num_local_crops}}, name='local',
                 transforms={{_base_.local_pipeline}}),
        ]),
        dict(type='PackInputs', algorithm_keys=['view_geometry', 'view_groups']),
    ]))
optim_wrapper = dict(accumulative_counts=2, optimizer=dict(variant='clove_release'))
