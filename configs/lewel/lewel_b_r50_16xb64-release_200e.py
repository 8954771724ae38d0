# LEWEL_B equivalent to the authors' released LEWELB_EMAN model and 200-epoch script
# (scripts/srun_lewelb_eman.sh): the recipe of lewel_b_r50_16xb64-lars_200e.py (LARS 3.6 @ 1024,
# wd 1.5e-6, crop (0.2, 1) bilinear, EMA 0.98 -> 1 with EMAN, g once on [GAP(F); pixels]) plus the
# release's heads: g, p, q, s without biases and with Kaiming-normal fan-out weights (BN weight 1).
# Its training steps equal a transcription of the release's (tests/test_lewel_release.py: LARS,
# warm-up + cosine, EMA schedule, EMAN), up to the release's map order (a channel permutation of
# g's output, equivalent). The target is averaged as in the release, after the optimizer step with
# the momentum of the step just done (teacher_update='after_step').
_base_ = 'lewel_b_r50_16xb64-lars_200e.py'

release_init = [
    dict(type='Kaiming', mode='fan_out', nonlinearity='relu', distribution='normal',
         layer=['Conv2d', 'Linear']),
    dict(type='Constant', val=1, bias=0, layer=['_BatchNorm']),
]
model = dict(
    teacher_buffers='eman',
    teacher_update='after_step',
    neck=dict(with_bias=False, with_last_bias=False, batch_mode='joint', init_cfg=release_init),
    aligned_projector=dict(with_bias=False, init_cfg=release_init),
    head=dict(predictor=dict(with_bias=False, init_cfg=release_init)),
    aligned_head=dict(predictor=dict(with_bias=False, init_cfg=release_init)))
optim_wrapper = dict(optimizer=dict(variant='lewel_release'))  # utils/LARS.py: no eps
