# BYOL as reproduced as LEWEL_B's baseline (LEWEL Sec. 3.3 / Table 1: 8 GPUs x 64 = 512 images,
# SGD-momentum lr 1.8, wd 1e-6 with no decay on biases and BN, EMA 0.98 -> 1 (cosine), EMA BN
# statistics in the target, cosine lr), fp32 as BYOL's release. LEWEL's released scripts instead
# use LARS lr 3.6 at batch 1024 and AMP: configs/byol/byol_r50_16xb64-lars_200e.py. Paper /
# release / option per setting: configs/byol/README.md.
# Target BN: EMAN (target in eval mode on EMA'd BN statistics), the setting LEWEL_B uses (LEWEL
# Sec. 3.3), so that this baseline differs from LEWEL_B only by the alignment. BYOL's own paper
# runs the target in train mode with batch statistics: teacher_buffers='copy'.
_base_ = [
    '../_base_/datasets/imagenet_byol.py',
    '../_base_/schedules/sgd_coslr-200e.py',
    '../_base_/default_runtime.py',
]

model = dict(
    type='BYOL',
    base_momentum=0.02,  # 1 - 0.98, annealed (cosine) to end_momentum=0 (tau -> 1)
    teacher_buffers='eman',
    data_preprocessor=dict(
        type='SelfSupDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        to_rgb=True),
    backbone=dict(
        type='ResNet', depth=50, norm_cfg=dict(type='BN'), zero_init_residual=False),
    neck=dict(
        type='NonLinearNeck',
        in_channels=2048,
        hid_channels=4096,
        out_channels=256,
        num_layers=2,
        with_bias=True,
        with_last_bn=False,
        with_avg_pool=True,
        norm_cfg=dict(type='BN1d')),
    head=dict(
        type='LatentPredictHead',
        loss=dict(type='CosineSimilarityLoss', shift_factor=2.0, scale_factor=2.0),
        predictor=dict(
            type='NonLinearNeck',
            in_channels=256,
            hid_channels=4096,
            out_channels=256,
            num_layers=2,
            with_bias=True,
            with_last_bn=False,
            with_avg_pool=False,
            norm_cfg=dict(type='BN1d'))))

optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=1.8, weight_decay=1e-6, momentum=0.9),
    paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0))

auto_scale_lr = dict(base_batch_size=512)
