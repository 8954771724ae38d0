default_scope = 'densepre'
runner_type = 'DenseRunner'  # atomic checkpoints, exact resume, CPU-distributed support

default_hooks = dict(
    runtime_info=dict(type='RuntimeInfoHook'),
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', interval=10, max_keep_ckpts=3),
    sampler_seed=dict(type='DistSamplerSeedHook'),
)
custom_hooks = [dict(type='GlobalLossLogHook'), dict(type='FiniteLossHook')]

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    # nccl on GPUs; on a machine without CUDA DenseRunner uses gloo automatically. A collective
    # that waits longer than `timeout` seconds (a hung rank) fails the job instead of blocking it
    # for torch's default 30 min; it must exceed the longest rank-0-only work between two
    # collectives (checkpoint save, DenseProbeHook). See docs/reliability.md.
    dist_cfg=dict(backend='nccl', timeout=600),
)
log_processor = dict(window_size=10)
vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='UniversalVisualizer', vis_backends=vis_backends)
log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=0, diff_rank_seed=True, deterministic=False)
