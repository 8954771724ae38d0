# CPU demo of Revisiting-Contrastive's best model (kNN-MoCo + constrained multi-crop + m 0.995 +
# A+) with ResNet-18 on the synthetic demo set (tools/demo.py --pretrain-config <this file>):
# 64-px query/key + 4 x 32-px small crops (the 160 + 96 layout scaled down), queue 1024 (full
# after 4 epochs), k = 20, lambda = 0.4, nn loss from epoch 5; lr 0.06 for the batch of 32.
_base_ = '../revisiting/knn-mocov2-mc-cc-m0995-aplus_r50_8xb32-coco_200e.py'

model = dict(
    queue_len=1024,
    backbone_dim=512,
    backbone=dict(depth=18),
    neck=dict(in_channels=512, hid_channels=512))

colour = [
    dict(
        type='RandomApply',
        transforms=[
            dict(type='ColorJitter', brightness=0.4, contrast=0.4, saturation=0.4, hue=0.1)
        ],
        prob=0.8),
    dict(type='RandomGrayscale', prob=0.2, keep_channels=True,
         channel_weights=(0.114, 0.587, 0.2989)),
]
aplus = dict(type='APlusAugment', standard=colour, policies='imagenet', prob=0.5)
large_crop = dict(type='GeoRandomResizedCrop', scale=64, crop_ratio_range=(0.2, 1.),
                  backend='pillow')
small_crop = dict(type='GeoRandomResizedCrop', scale=32, crop_ratio_range=(0.05, 0.14),
                  backend='pillow', min_overlap=0.2, overlap_tries=10)
flip = dict(type='RandomFlip', prob=0.5)
train_dataloader = dict(
    batch_size=32,
    num_workers=2,
    dataset=dict(
        type='ImageList',
        data_root='data/demo/imagenet/',
        ann_file='meta/train.txt',
        data_prefix=dict(img_path='train/'),
        pipeline=[
            dict(type='LoadImageRobust'),
            dict(type='GeoMultiView', views=[
                dict(num=1, name='query', transforms=[large_crop, aplus, flip]),
                dict(num=1, name='key', transforms=[large_crop, *colour, flip]),
                dict(num=4, name='local', overlap_with=1, transforms=[small_crop, aplus, flip]),
            ]),
            dict(type='PackInputs', algorithm_keys=['view_geometry', 'view_groups']),
        ]))
optim_wrapper = dict(optimizer=dict(lr=0.06))
param_scheduler = [dict(type='CosineAnnealingLR', T_max=40, by_epoch=True, begin=0, end=40)]
train_cfg = dict(max_epochs=40)
default_hooks = dict(logger=dict(interval=8), checkpoint=dict(interval=10, max_keep_ckpts=2))
# Dense quality during pretraining: linear per-pixel probe on the demo VOC split every 10 epochs
# (tools/demo.py sets custom_hooks.2.data_root).
custom_hooks = [
    dict(type='GlobalLossLogHook'),
    dict(type='FiniteLossHook'),
    dict(type='DenseProbeHook', data_root='data/demo/VOCdevkit/VOC2012', image_size=128,
         interval=10),
]
auto_scale_lr = dict(base_batch_size=32)
