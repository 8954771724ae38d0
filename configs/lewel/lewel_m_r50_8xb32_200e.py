# LEWEL_M (LEWEL Sec. 3.3): MoCo v2 + alignment, ResNet-50, 200 epochs on IN-1K, 8 GPUs x 32 = 256.
# Everything not about the alignment is the MoCo v2 baseline (configs/mocov2/mocov2_r50_8xb32_200e.py):
# SGD lr 0.06, wd 1e-4, tau 0.2, queue 65536, momentum 0.999 fixed, ShuffleBN, cosine lr; AMP
# (LEWEL Sec. 3.3; the MoCo v2 base config is fp32).
# The authors released no LEWEL_M code: every value below is from the paper.
#   * g: "one hidden layer followed by BN and ReLU", 2048 -> 2048 -> d = 128 (so unlike the MoCo v2
#     neck, g has BN); p: 2048 -> 2048 -> c = d = 128 (Sec. 3.3 "Architecture")
#   * h: the paper states h = 4 for LEWEL_B (Sec. 4.4) and no separate value for LEWEL_M; densepre
#     uses 4 here too -> d/h = 32 aligned embeddings (the released LEWEL_B scripts also use 4)
#   * loss in one direction, like its MoCo v2 baseline: the paper never says it is symmetrised,
#     Table 9 gives LEWEL_M +0.7 % time over MoCo v2 (symmetric would double the query/key passes)
#     and Table 1's baseline is the one-direction MoCo v2. symmetric=True is the option (mean of
#     both directions; still one key batch enqueued per iteration, so the queue spans the same
#     iterations as MoCo v2). Aligned negatives: the other images of the batch, gathered from all
#     processes (BatchInfoNCELoss)
#   * g's BN: g runs once on [GAP(F); pixels] (batch_mode='joint', as the released LEWEL_B code;
#     the paper is silent); batch_mode='separate' is the option
_base_ = '../mocov2/mocov2_r50_8xb32_200e.py'

model = dict(
    type='LEWELM',
    feat_dim=128,
    symmetric=False,
    neck=dict(
        _delete_=True,
        type='CoupledProjectionHead',
        in_channels=2048,
        hid_channels=2048,
        out_channels=128,
        num_layers=2,
        with_bias=True,
        with_last_bias=True,
        with_last_bn=False,
        norm_cfg=dict(type='BN'),
        batch_mode='joint'),
    aligned_projector=dict(
        type='NonLinearNeck',
        in_channels=2048,
        hid_channels=2048,
        out_channels=128,
        num_layers=2,
        with_bias=True,
        with_last_bias=True,
        with_last_bn=False,
        with_avg_pool=False,
        norm_cfg=dict(type='BN1d')),
    aligned_loss=dict(type='BatchInfoNCELoss', temperature=0.2),
    num_groups=4,
    temperature=1.0,
    beta=0.5)
optim_wrapper = dict(type='AmpOptimWrapper', loss_scale='dynamic')
