# The train pipelines of the Revisiting-Contrastive Table 4 chain, one per step, so that each
# step's config only picks its pipeline: train_dataloader.dataset.pipeline =
# {{_base_.pipeline_<step>}}. Views: 0 = the query (160 px), 1 = the key / anchor (160 px,
# always the MoCo v2 augmentations), 2.. = num_small_crops small crops (96 px), queries only.
# A different number of small crops means writing the pipeline in the config (a list built
# here does not follow a later change of num_small_crops).
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
aplus = dict(type='APlusAugment', standard=colour, policies='imagenet', prob=0.5)
# A+ as the authors' release computes AutoAugment (torchvision on PIL): Rotate / Shear fill with 0
# (mmpretrain: grey 128), Shear about the image centre with nearest neighbours and factor
# tan(magnitude) (mmpretrain: top-left corner, bicubic, factor = magnitude)
aplus_release = dict(aplus, hparams=dict(pad_val=0, interpolation='nearest'), shear_about='centre')
autoaug = dict(type='APlusAugment', standard=colour, policies='imagenet', prob=1.0)  # Table 7
large_crop = dict(type='GeoRandomResizedCrop', scale=160, crop_ratio_range=(0.2, 1.),
                  backend='pillow')
flip = dict(type='RandomFlip', prob=0.5)


def _small_crop(min_overlap=None):
    crop = dict(type='GeoRandomResizedCrop', scale=96, crop_ratio_range=(0.05, 0.14),
                backend='pillow')
    if min_overlap is not None:  # constrained to overlap the key crop (view 1)
        crop.update(min_overlap=min_overlap, overlap_tries=10)
    return crop


def _pipeline(positive_aug, min_overlap=None):
    """query + key + small crops; ``positive_aug``: the query's and small crops' augmentations."""
    local = dict(num=num_small_crops, name='local',
                 transforms=[_small_crop(min_overlap), *positive_aug, flip])
    if min_overlap is not None:
        local['overlap_with'] = 1
    return [
        dict(type='LoadImageRobust'),
        dict(type='GeoMultiView', views=[
            dict(num=1, name='query', transforms=[large_crop, *positive_aug, flip]),
            dict(num=1, name='key', transforms=[large_crop, *colour, flip]),
            local,
        ]),
        dict(type='PackInputs', algorithm_keys=['view_geometry', 'view_groups']),
    ]


pipeline_mc = _pipeline(colour)  # +MC
pipeline_mc_cc = _pipeline(colour, min_overlap=0.2)  # +CC, paper (suppl. A.4)
pipeline_mc_cc10 = _pipeline(colour, min_overlap=0.1)  # +CC, released code
pipeline_mc_cc_aplus = _pipeline([aplus], min_overlap=0.2)  # +A+
pipeline_mc_cc10_aplus = _pipeline([aplus], min_overlap=0.1)  # +A+, released CC rule
pipeline_mc_cc10_aplus_release = _pipeline([aplus_release], min_overlap=0.1)  # the release's A+
pipeline_mc_cc_autoaug = _pipeline([autoaug], min_overlap=0.2)  # Table 7, AutoAugment only
