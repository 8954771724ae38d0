"""Train a densepre model from a config (flags compatible with mmpretrain's tools/train.py)."""
import argparse
import difflib
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mmengine.config import Config, DictAction  # noqa: E402
from mmengine.runner import Runner  # noqa: E402

# Top-level keys MMEngine's Runner (and densepre) read. A key that is *close* to one of them but not
# equal is almost certainly a typo that the Runner would silently ignore.
RUNNER_KEYS = {
    'model', 'work_dir', 'train_dataloader', 'val_dataloader', 'test_dataloader', 'train_cfg',
    'val_cfg', 'test_cfg', 'auto_scale_lr', 'optim_wrapper', 'param_scheduler', 'val_evaluator',
    'test_evaluator', 'default_hooks', 'custom_hooks', 'data_preprocessor', 'load_from', 'resume',
    'launcher', 'env_cfg', 'log_processor', 'log_level', 'visualizer', 'default_scope',
    'randomness', 'experiment_name', 'runner_type', 'model_wrapper_cfg', 'custom_imports',
    'find_unused_parameters', 'sync_bn', 'resume_allow_world_size_change',
    'channels_last'  # speed (#15)
}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a densepre model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='resume from the given checkpoint, or with no value (or "auto") from the latest '
        'checkpoint in the work dir')
    parser.add_argument('--amp', action='store_true', help='automatic mixed precision')
    parser.add_argument(  # speed (#15)
        '--amp-dtype', choices=['bfloat16', 'float16'],
        help='AMP dtype (implies --amp); default: float16 on GPUs, bfloat16 on CPUs with bf16')
    parser.add_argument(
        '--auto-scale-lr', action='store_true',
        help='scale the lr linearly by (total batch / auto_scale_lr.base_batch_size)')
    parser.add_argument('--no-pin-memory', action='store_true')
    parser.add_argument('--no-persistent-workers', action='store_true')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings, e.g. optim_wrapper.optimizer.lr=0.1')
    parser.add_argument(
        '--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none',
        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def check_top_level_keys(cfg: Config, filename: str) -> None:
    """Fail on top-level keys that look like misspelt Runner keys (the Runner ignores them)."""
    for key in cfg.keys():
        if key in RUNNER_KEYS or key.startswith('_'):
            continue
        close = difflib.get_close_matches(key, RUNNER_KEYS, n=1, cutoff=0.85)
        if close:
            raise KeyError(f'{filename}: unknown config key {key!r}; did you mean {close[0]!r}? '
                           '(MMEngine would silently ignore it)')


def merge_args(cfg: Config, args) -> Config:
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])

    if args.amp or args.amp_dtype:
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
        if args.amp_dtype:  # speed (#15)
            cfg.optim_wrapper.dtype = args.amp_dtype

    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        if not osp.isfile(args.resume):
            raise FileNotFoundError(f'--resume checkpoint not found: {args.resume}')
        cfg.resume = True
        cfg.load_from = args.resume

    if args.auto_scale_lr:
        if 'auto_scale_lr' not in cfg:
            raise KeyError(f'{args.config} has no `auto_scale_lr` (base_batch_size) to scale from')
        cfg.auto_scale_lr.enable = True

    def set_loader(key, value):
        for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
            if cfg.get(loader) is not None:
                cfg[loader][key] = value

    if args.no_pin_memory:
        set_loader('pin_memory', False)
    if args.no_persistent_workers:
        set_loader('persistent_workers', False)
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        if cfg.get(loader) is not None and cfg[loader].get('num_workers', 0) == 0:
            cfg[loader]['persistent_workers'] = False  # torch rejects it without workers

    cfg.launcher = args.launcher
    return cfg


def main(argv=None):
    args = parse_args(argv)
    from densepre.utils import register_all_modules
    register_all_modules(init_default_scope=False)

    if not osp.isfile(args.config):
        raise FileNotFoundError(f'config file not found: {args.config}')
    cfg = Config.fromfile(args.config)
    cfg = merge_args(cfg, args)
    check_top_level_keys(cfg, args.config)

    if 'runner_type' not in cfg:
        runner = Runner.from_cfg(cfg)
    else:
        from densepre.registry import RUNNERS
        runner = RUNNERS.build(cfg)
    runner.train()
    shutdown_distributed()  # not on errors: a rank that failed must not wait in a barrier


def shutdown_distributed() -> None:
    """Tear the process group down before the interpreter exits: gloo's worker threads
    otherwise abort the process at exit ("terminate called without an active exception")."""
    import torch.distributed as dist
    if dist.is_available() and dist.is_initialized():
        dist.barrier()  # rank 0 may still be writing the last checkpoint
        dist.destroy_process_group()


if __name__ == '__main__':
    main()
