# CPU demo: LOCA with a 2-layer, 64-dim ViT with 8-px patches on the synthetic demo set
# (tools/demo.py --pretrain-config <this> --seg-config
#  configs/demo/loca-segmenter-linear_vit-tiny-p8_1xb8-300it_demo-voc-64x64.py).
# Reference 64 px (8x8 = 64 positions), query 64 px with tokens dropped to 23 of 64 (the paper's
# 70/196 share), 9 focal queries 32 px (4x4 patches); eta = 0.8 leaves 13 reference tokens.
# 256 prototypes, hidden 256, bottleneck 64. AdamW lr 1e-3 — the paper's value, not scaled to
# the batch of 32: linear scaling (3.1e-5) leaves the 320-step demo untrained (position accuracy
# at chance, 1/64, after 4 epochs; 1e-3: above it after 1 epoch; configs/loca/README.md) —
# cosine without warm-up (tools/demo.py rewrites the first scheduler's T_max / end).
_base_ = '../loca/loca_vit-b16_16xb64_100e_in1k.py'

arch = dict(_delete_=True, embed_dims=64, num_layers=2, num_heads=2, feedforward_channels=128)
model = dict(
    backbone=dict(arch=arch, img_size=64, patch_size=8),
    position_head=dict(embed_dims=64, num_heads=2, feedforward_channels=128, num_positions=64),
    cluster_head=dict(in_channels=64, hid_channels=256, bottleneck_channels=64,
                      num_prototypes=256),
    query_keep_tokens=23)

crop = dict(type='GeoRandomResizedCrop', interpolation='bicubic', backend='pillow')
colour = [
    dict(type='RandomApply', prob=0.8, transforms=[
        dict(type='ColorJitter', brightness=0.4, contrast=0.4, saturation=0.2, hue=0.1)]),
    dict(type='RandomGrayscale', prob=0.2, keep_channels=True,
         channel_weights=(0.114, 0.587, 0.2989)),
]
train_dataloader = dict(
    batch_size=32,
    num_workers=2,
    dataset=dict(
        data_root='data/demo/imagenet/',
        pipeline=[
            dict(type='LoadImageRobust'),
            dict(type='GeoMultiView', views=[
                dict(num=1, name='reference', transforms=[
                    dict(crop, scale=64, crop_ratio_range=(0.32, 1.))] + colour),
                dict(num=1, name='query', transforms=[
                    dict(crop, scale=64, crop_ratio_range=(0.32, 1.)),
                    dict(type='RandomFlip', prob=0.5)] + colour),
                dict(num=9, name='query', transforms=[
                    dict(crop, scale=32, crop_ratio_range=(0.05, 0.32)),
                    dict(type='RandomFlip', prob=0.5)] + colour),
            ]),
            dict(type='PackInputs', algorithm_keys=['view_geometry', 'view_groups']),
        ]))
optim_wrapper = dict(optimizer=dict(lr=1e-3))
param_scheduler = [dict(type='CosineAnnealingLR', T_max=40, by_epoch=True, begin=0, end=40)]
train_cfg = dict(max_epochs=40)
default_hooks = dict(logger=dict(interval=8), checkpoint=dict(interval=10, max_keep_ckpts=2))
custom_hooks = [
    dict(type='GlobalLossLogHook'),
    dict(type='FiniteLossHook'),
    dict(type='DenseProbeHook', data_root='data/demo/VOCdevkit/VOC2012', image_size=64,
         interval=10),
]
