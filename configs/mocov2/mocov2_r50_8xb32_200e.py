# MoCo v2 as reproduced as LEWEL_M's baseline (LEWEL Table 1/3: 8 GPUs x 32 = 256 images,
# SGD lr 0.06, wd 1e-4, tau 0.2, m 0.999 fixed, ShuffleBN, cosine), fp32 as MoCo v2's release.
# Paper / release / option per setting (lr 0.03, AMP): configs/mocov2/README.md.
_base_ = [
    '../_base_/datasets/imagenet_mocov2.py',
    '../_base_/schedules/sgd_coslr-200e.py',
    '../_base_/default_runtime.py',
]

model = dict(
    type='MoCoV2',
    queue_len=65536,
    feat_dim=128,
    momentum=0.001,  # MMEngine EMA convention: 1 - m, m = 0.999
    shuffle_bn=True,
    symmetric=False,
    data_preprocessor=dict(
        type='SelfSupDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        to_rgb=True),
    backbone=dict(
        type='ResNet', depth=50, norm_cfg=dict(type='BN'), zero_init_residual=False),
    neck=dict(
        type='MoCoV2Neck',
        in_channels=2048,
        hid_channels=2048,
        out_channels=128,
        with_avg_pool=True),
    head=dict(type='ContrastiveHead', loss=dict(type='CrossEntropyLoss'), temperature=0.2))

# lr 0.06 is for a total batch of 256; `--auto-scale-lr` scales it linearly to yours.
auto_scale_lr = dict(base_batch_size=256)
