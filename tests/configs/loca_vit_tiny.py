# Tiny LOCA for CPU tests: 2-layer 32-dim ViT, 8-px patches, 32 px reference / query (4x4
# patches, 6 query tokens kept) + 2 focal 16 px queries, batch 4, no workers (exact resume).
_base_ = '../../configs/demo/loca_vit-tiny-p8_1xb32-64px-40e_demo.py'

arch = dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64)
model = dict(
    backbone=dict(arch=arch, img_size=32, patch_size=8),
    position_head=dict(embed_dims=32, num_heads=2, feedforward_channels=64, num_positions=16),
    cluster_head=dict(in_channels=32, hid_channels=64, bottleneck_channels=16,
                      num_prototypes=32),
    query_keep_tokens=6)
crop = dict(type='GeoRandomResizedCrop', interpolation='bicubic', backend='pillow')
train_dataloader = dict(
    batch_size=4,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(pipeline=[
        dict(type='LoadImageRobust'),
        dict(type='GeoMultiView', views=[
            dict(num=1, name='reference', transforms=[
                dict(crop, scale=32, crop_ratio_range=(0.32, 1.))]),
            dict(num=1, name='query', transforms=[
                dict(crop, scale=32, crop_ratio_range=(0.32, 1.)),
                dict(type='RandomFlip', prob=0.5)]),
            dict(num=2, name='query', transforms=[
                dict(crop, scale=16, crop_ratio_range=(0.05, 0.32)),
                dict(type='RandomFlip', prob=0.5)]),
        ]),
        dict(type='PackInputs', algorithm_keys=['view_geometry', 'view_groups']),
    ]))
param_scheduler = [dict(type='CosineAnnealingLR', T_max=2, by_epoch=True, begin=0, end=2)]
train_cfg = dict(max_epochs=2)
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=1, max_keep_ckpts=3))
custom_hooks = [dict(type='GlobalLossLogHook'), dict(type='FiniteLossHook')]
randomness = dict(seed=0)
