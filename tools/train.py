"""Train a densepre model from a config (flags compatible with mmpretrain's tools/train.py)."""
import argparse
import ast
import difflib
import inspect
import re
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mmengine.config import Config, DictAction  # noqa: E402
from mmengine.runner import Runner  # noqa: E402

# Top-level keys MMEngine's Runner (and densepre's DenseRunner) read.
RUNNER_KEYS = {
    'model', 'work_dir', 'train_dataloader', 'val_dataloader', 'test_dataloader', 'train_cfg',
    'val_cfg', 'test_cfg', 'auto_scale_lr', 'optim_wrapper', 'param_scheduler', 'val_evaluator',
    'test_evaluator', 'default_hooks', 'custom_hooks', 'data_preprocessor', 'load_from', 'resume',
    'launcher', 'env_cfg', 'log_processor', 'log_level', 'visualizer', 'default_scope',
    'randomness', 'experiment_name', 'runner_type', 'model_wrapper_cfg', 'custom_imports',
    'find_unused_parameters', 'sync_bn', 'resume_allow_world_size_change', 'trust_checkpoint',
    'cfg', 'compile', 'strategy', 'channels_last', 'resume_override', 'max_abs_weight',
}
# mmcv-1.x / MMCV-runner settings that MMEngine silently ignores, with what replaces them.
LEGACY_KEYS = {
    'optimizer': 'optim_wrapper = dict(optimizer=dict(type=..., lr=...))',
    'optimizer_config': 'optim_wrapper (clip_grad=..., accumulative_counts=...)',
    'lr_config': 'param_scheduler = [dict(type=...)]',
    'momentum_config': 'param_scheduler (a momentum scheduler, e.g. CosineAnnealingMomentum)',
    'runner': 'train_cfg = dict(by_epoch=True, max_epochs=N) or dict(by_epoch=False, '
              'max_iters=N)',
    'total_epochs': 'train_cfg.max_epochs',
    'resume_from': 'tools/train.py --resume PATH (resume=True with load_from=PATH)',
    'auto_resume': 'tools/train.py --resume (resume=True)',
    'checkpoint_config': 'default_hooks.checkpoint',
    'log_config': 'default_hooks.logger (and log_processor)',
    'evaluation': 'val_cfg / val_evaluator (and train_cfg.val_interval)',
    'data': 'train_dataloader / val_dataloader / test_dataloader',
    'workflow': 'train_cfg (val_interval)',
    'dist_params': 'env_cfg.dist_cfg',
    'fp16': "optim_wrapper = dict(type='AmpOptimWrapper') (or --amp)",
    'gpu_ids': 'the launcher (tools/dist_train.sh CONFIG GPUS)',
    'seed': 'randomness = dict(seed=...)',
    'deterministic': 'randomness.deterministic',
    'cudnn_benchmark': 'env_cfg.cudnn_benchmark',
    'mp_start_method': 'env_cfg.mp_cfg.mp_start_method',
    'opencv_num_threads': 'env_cfg.mp_cfg.opencv_num_threads',
    'dist_timeout': 'env_cfg.dist_cfg.timeout (seconds)',
    'timeout': 'env_cfg.dist_cfg.timeout (seconds)',
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
    parser.add_argument(
        '--resume-override', nargs='+', metavar='KEY', default=None,
        help='with --resume: config keys (or subtrees, e.g. optim_wrapper.optimizer.lr '
        'train_dataloader.batch_size) whose value may differ from the one the checkpoint was '
        'trained with; any other changed optimisation / data setting refuses the resume. '
        'Each change is logged old -> new')
    parser.add_argument(
        '--trust-checkpoint', action='store_true',
        help='fully unpickle the --resume / load_from checkpoint. densepre checkpoints load '
        'weights-only (tensors and plain containers only); files from other toolboxes or older '
        'densepre versions may need full unpickling, which runs any code the file names: use '
        'only for files you trust')
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


def config_files(filename: str) -> list:
    """The config file and all its local ``_base_`` files, bases first."""
    from mmengine.config import Config
    files = []

    def visit(path):
        if not path.endswith('.py') or not osp.isfile(path):
            return
        for base in Config._get_base_files(path):
            if '::' in base:  # mmdet:: / mmseg:: bases: their own keys are theirs to read
                continue
            visit(Config._get_cfg_path(base, path)[0])
        files.append(path)

    visit(filename)
    return files


def _assigned_and_read(path: str):
    with open(path, encoding='utf-8') as f:
        text = f.read()
    tree = ast.parse(text)
    assigned = set()
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else (
            [node.target] if isinstance(node, ast.AnnAssign) else [])
        assigned |= {t.id for t in targets if isinstance(t, ast.Name)}
    read = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    base_refs = set(re.findall(r'\{\{\s*_base_\.(\w+)', text))
    return assigned, read, base_refs


def check_top_level_keys(cfg: Config, filename: str, option_keys=()) -> None:
    """Refuse every top-level config key that nothing reads (MMEngine ignores them silently).

    A key is read if the Runner reads it (:data:`RUNNER_KEYS`, the Runner's arguments), or if it
    is a variable the config file that last sets it uses itself (``view_pipeline`` in
    ``train_dataloader = dict(... pipeline=view_pipeline ...)``); a variable that a ``_base_``
    file used and a later file sets again without using is refused (the base keeps its own
    value), while unused plain variables (e.g. in a config dumped by MMEngine) pass. mmcv-1.x keys (``optimizer``,
    ``lr_config``, ``runner`` ...) are named with their MMEngine replacement. Keys set with
    ``--cfg-options`` must be Runner keys: changing a variable after the file was read changes
    nothing.
    """
    from mmengine.runner import Runner
    known = RUNNER_KEYS | (set(inspect.signature(Runner.__init__).parameters) - {'self'})
    last_setter, used, readers = {}, set(), {}
    for path in config_files(filename):
        assigned, read, base_refs = _assigned_and_read(path)
        used |= base_refs
        for key in read & assigned:
            readers.setdefault(key, set()).add(path)
        for key in assigned:
            last_setter[key] = (path, key in read)
    problems = []
    for key in cfg.keys():
        if key in known or key.startswith('_'):
            continue
        where = '--cfg-options' if key in option_keys else osp.basename(
            last_setter.get(key, (filename, ))[0])
        if key in LEGACY_KEYS:
            problems.append(f'{key!r} ({where}) is an mmcv 1.x setting that MMEngine ignores; '
                            f'use {LEGACY_KEYS[key]}')
            continue
        is_read = key in used or (key in last_setter and last_setter[key][1])
        close = difflib.get_close_matches(key, sorted(known), n=1, cutoff=0.85)
        if close and not (is_read and key not in option_keys):
            problems.append(f'unknown config key {key!r}; did you mean {close[0]!r}? (MMEngine '
                            'would silently ignore it)')
        elif key in option_keys:
            problems.append(f'--cfg-options {key}=...: {key!r} is not a setting the Runner reads'
                            + (' but a variable of the config file: the file has already used '
                               'its value, so changing it here changes nothing (override the '
                               'setting that uses it, e.g. train_dataloader.dataset.data_root)'
                               if key in last_setter else ''))
        elif (key in last_setter and not last_setter[key][1] and key not in used
              and readers.get(key, set()) - {last_setter[key][0]}):
            # a _base_ file used this variable: setting it again here changes nothing
            problems.append(
                f'{key!r} is set in {where} but nothing reads it: it is not a Runner setting and '
                'that file does not use it (a variable a _base_ file uses keeps the _base_ '
                "file's value; override the setting that uses it instead)")
    if problems:
        raise ValueError(f'{filename}: ' + '\n  '.join(problems))


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

    if args.resume_override:
        if args.resume is None:
            raise ValueError('--resume-override only applies with --resume')
        cfg.resume_override = list(args.resume_override)

    if args.trust_checkpoint:
        cfg.trust_checkpoint = True

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
    check_top_level_keys(cfg, args.config, option_keys={
        k.split('.')[0] for k in (args.cfg_options or {})})

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
