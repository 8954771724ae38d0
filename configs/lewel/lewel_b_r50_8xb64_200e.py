# LEWEL_B (LEWEL Sec. 3.3): BYOL + alignment, ResNet-50, 200 epochs on IN-1K, 8 GPUs x 64 = 512.
# Everything not about the alignment is the BYOL baseline (configs/byol/byol_r50_8xb64_200e.py):
# SGD-momentum lr 1.8, wd 1e-6 without decay on bias/BN, cosine lr, EMA 0.98 -> 1 (cosine) with
# EMAN (EMA BN statistics, target in eval mode: teacher_buffers='eman'), crop scale (0.08, 1), and
# AMP (LEWEL Sec. 3.3; the BYOL base config is fp32).
#   paper vs released code (documented options, the paper is the default here):
#   * optimiser: the released scripts use LARS lr 3.6 @ batch 1024 -> lewel_b_r50_16xb64-lars_200e.py
#   * crop scale: released code (0.2, 1): set crop_ratio_range=(0.2, 1.) in both views
#   * h (num_groups): paper Sec. 4.4 "we simply use [h] = 4 for LEWEL_B"; released scripts 4
#     (the released code's default argument is 8) -> d/h = 64 aligned embeddings
#   * temperature of the maps' softmax: none in the paper (= 1), released code 1.0
#   * g's BN batch: paper silent; g runs once on [GAP(F); pixels] as in the release
#     (batch_mode='joint'); 'separate' is the option. Release-equivalent model:
#     lewel_b_r50_16xb64-release_200e.py (see README.md)
_base_ = '../byol/byol_r50_8xb64_200e.py'

model = dict(
    type='LEWELB',
    # g: ONE MLP 2048 -> 4096 (BN, ReLU) -> d=256 (1x1 convs), on GAP(F) and on every pixel of F
    neck=dict(
        _delete_=True,
        type='CoupledProjectionHead',
        in_channels=2048,
        hid_channels=4096,
        out_channels=256,
        num_layers=2,
        with_bias=True,
        with_last_bias=False,
        with_last_bn=False,
        norm_cfg=dict(type='BN'),
        batch_mode='joint'),
    # p: semantic projector 2048 -> 4096 -> c (c = d = 256), applied to each aligned y_k
    aligned_projector=dict(
        type='NonLinearNeck',
        in_channels=2048,
        hid_channels=4096,
        out_channels=256,
        num_layers=2,
        with_bias=True,
        with_last_bn=False,
        with_avg_pool=False,
        norm_cfg=dict(type='BN1d')),
    # q (global predictor) is the BYOL head of the base config; s is the separate aligned one
    aligned_head=dict(
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
            norm_cfg=dict(type='BN1d'))),
    num_groups=4,
    temperature=1.0,
    beta=0.5)
optim_wrapper = dict(type='AmpOptimWrapper', loss_scale='dynamic')
