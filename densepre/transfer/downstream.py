"""Run a downstream mmseg / mmdet / mmpretrain fine-tuning from a densepre pretraining checkpoint.

Used by ``tools/benchmarks/finetune.py`` (and the ``tools/benchmarks/*.sh`` wrappers). Order of
work, so that bad input fails before anything is written to the work dir:

1. read the config, check the dataset roots exist;
2. extract the online backbone from the checkpoint (tensors only);
3. build the downstream model, run its real ``init_weights()`` with that file and verify every
   backbone tensor came from the checkpoint (:func:`verify_complete_loading`);
4. only then create the work dir, keep the extracted weights there, train with
   :class:`densepre.engine.DenseRunner` (SyncBN → BN with a warning on one process, gloo on
   CPU), test, and write ``metrics.json``.

A config may declare which model parts are loaded and which of their keys are random by design::

    pretrained_parts = [
        dict(module='backbone', prefix='backbone.'),
        dict(module='roi_head.shared_head', prefix='backbone.', random_by_design=['norm.']),
    ]

(default: the backbone only). Every backbone tensor of the checkpoint must be used by one of the
parts; tensors dropped deliberately (a classifier head) are named by shell-style patterns, in the
config or with ``finetune.py --ignore-keys`` (both are applied, and printed at start)::

    pretrained_ignore_keys = ['fc.*']
"""
import copy
import hashlib
import json
import logging
import os
import os.path as osp
import shutil
import tempfile
from typing import Dict, List, Optional, Sequence

from mmengine.config import Config
from mmengine.logging import print_log

from .checkpoint import (PREFIX, extract_backbone, unused_error, unused_tensors,
                         verify_complete_loading)
from .effective_batch import describe, keep_paper_batch, world_size_from_env

SCOPES = ('mmseg', 'mmdet', 'mmpretrain')


def register_scope(scope: str) -> None:
    """Register the downstream toolbox's modules (and densepre's) without changing scopes."""
    if scope not in SCOPES:
        raise ValueError(f'downstream configs must set default_scope to one of {SCOPES}, '
                         f'got {scope!r}')
    import importlib
    importlib.import_module(f'{scope}.utils').register_all_modules(init_default_scope=False)
    import densepre  # noqa: F401  (densepre hooks: dict(type=..., _scope_='densepre'))


def _get_path(obj, dotted: str):
    for part in dotted.split('.'):
        obj = obj[part] if isinstance(obj, dict) else getattr(obj, part)
    return obj


def dataset_roots(cfg: Config) -> List[str]:
    """``data_root`` of every dataset in the train / val / test dataloaders."""
    roots = []

    def walk(ds):
        if not isinstance(ds, dict):
            return
        if ds.get('data_root'):
            roots.append(ds['data_root'])
        for key in ('dataset', 'datasets'):
            sub = ds.get(key)
            for s in (sub if isinstance(sub, (list, tuple)) else [sub]):
                walk(s)

    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        if cfg.get(loader):
            walk(cfg[loader].get('dataset'))
    return roots


def annotation_files(cfg: Config) -> List[str]:
    """``ann_file`` of every dataset (joined to its ``data_root``) and of every evaluator.

    Evaluators resolve their ``ann_file`` when the config is read (``data_root + '...'``), so a
    ``data_root`` override leaves them behind; and ``test_evaluator`` is built only after
    training -- check both before anything runs.
    """
    files = []

    def walk(ds, root=''):
        if not isinstance(ds, dict):
            return
        root = ds.get('data_root') or root
        if ds.get('ann_file'):
            files.append(osp.join(root, ds['ann_file']))
        for key in ('dataset', 'datasets'):
            sub = ds.get(key)
            for s in (sub if isinstance(sub, (list, tuple)) else [sub]):
                walk(s, root)

    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        if cfg.get(loader):
            walk(cfg[loader].get('dataset'))
    for key in ('val_evaluator', 'test_evaluator'):
        evaluators = cfg.get(key) or []
        for ev in (evaluators if isinstance(evaluators, (list, tuple)) else [evaluators]):
            if isinstance(ev, dict) and ev.get('ann_file'):
                files.append(ev['ann_file'])
    return files


def check_dataset_roots(cfg: Config, config_path: str) -> None:
    missing = sorted({r for r in dataset_roots(cfg) if not osp.isdir(r)})
    if missing:
        raise FileNotFoundError(
            f'{config_path}: dataset root(s) not found: {missing}. Put the data there or '
            "override it, e.g. --cfg-options train_dataloader.dataset.data_root=... (see the "
            'benchmark docs for every key).')
    missing = sorted({f for f in annotation_files(cfg) if not osp.isfile(f)})
    if missing:
        raise FileNotFoundError(
            f'{config_path}: annotation file(s) not found: {missing}. Override the dataset '
            "ann_file / data_root, and the evaluators' ann_file (val_evaluator.ann_file=..., "
            'test_evaluator.ann_file=...).')


def shutdown_distributed() -> None:
    """Tear the process group down before exit (gloo's threads otherwise abort the process)."""
    import torch.distributed as dist
    if dist.is_available() and dist.is_initialized():
        dist.barrier()  # rank 0 may still be writing the last checkpoint
        dist.destroy_process_group()


def default_work_dir(benchmark: str, checkpoint: str) -> str:
    """A stable work dir per (benchmark, checkpoint): re-running resumes / overwrites the same."""
    if checkpoint == 'none':
        tag = 'random-init'
    else:
        path = osp.abspath(checkpoint)
        tag = f'{osp.splitext(osp.basename(path))[0]}-{hashlib.sha1(path.encode()).hexdigest()[:8]}'
        parent = osp.basename(osp.dirname(path))
        tag = f'{parent}_{tag}' if parent else tag
    return osp.join('work_dirs', 'benchmarks', benchmark, tag)


def _parts(cfg: Config) -> List[dict]:
    parts = cfg.get('pretrained_parts') or [dict(module='backbone', prefix=PREFIX)]
    return [dict(module=p['module'], prefix=p.get('prefix', PREFIX),
                 random_by_design=list(p.get('random_by_design', [])),
                 resized_by_design=list(p.get('resized_by_design', []))) for p in parts]


def inject_pretrained(cfg: Config, weights: Optional[str]) -> None:
    """Point every pretrained part's ``init_cfg`` at ``weights`` (None: random init)."""
    cfg.model.pop('pretrained', None)  # clashes with init_cfg in mmseg / mmdet
    for part in _parts(cfg):
        module_cfg = _get_path(cfg.model, part['module'])
        module_cfg['init_cfg'] = None if weights is None else dict(
            type='Pretrained', checkpoint=weights, prefix=part['prefix'])


def ignore_patterns(cfg: Config, ignore_keys: Sequence[str] = ()) -> List[str]:
    """The config's ``pretrained_ignore_keys`` followed by the command line's ``--ignore-keys``."""
    patterns = list(cfg.get('pretrained_ignore_keys') or []) + list(ignore_keys or [])
    bad = [p for p in patterns if not isinstance(p, str) or not p]
    if bad:
        raise ValueError(f'ignore-keys patterns must be non-empty strings, got {bad}')
    return patterns


def verify(cfg: Config, pretrained: Dict, ignore_keys: Sequence[str] = ()) -> List[str]:
    """Build the downstream model, initialise it as the Runner will and check every part; then
    check that every checkpoint tensor is used by some part or matches an ignore pattern (the
    config's ``pretrained_ignore_keys`` and ``ignore_keys``)."""
    from mmengine.registry import MODELS, DefaultScope
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        model = MODELS.build(copy.deepcopy(cfg.model))
    model.init_weights()
    # BN step counters are neither compared nor worth reporting as unused checkpoint tensors
    pretrained = {k: v for k, v in pretrained.items() if not k.endswith('num_batches_tracked')}
    patterns = ignore_patterns(cfg, ignore_keys)
    report, used = [], {}
    for part in _parts(cfg):
        module = _get_path(model, part['module'])
        skipped = verify_complete_loading(module, pretrained, part['prefix'],
                                          part['random_by_design'], what=part['module'],
                                          resized_by_design=part['resized_by_design'],
                                          ignore_keys=None)
        used.setdefault(part['prefix'], set()).update(module.state_dict())
        n = len([k for k in module.state_dict() if not k.endswith('num_batches_tracked')])
        resized = [s for s in skipped if ' (resized ' in s]
        random = [s for s in skipped if ' (resized ' not in s]
        report.append(f'{part["module"]}: {n - len(skipped)} tensors loaded from the checkpoint'
                      + (f', {len(resized)} resized from it ({", ".join(resized)})'
                         if resized else '')
                      + (f', {len(random)} random by design ({", ".join(random[:4])}'
                         f'{" ..." if len(random) > 4 else ""})' if random else ''))
    for prefix, names in used.items():
        unused, ignored = unused_tensors(pretrained, names, prefix, patterns)
        if unused:
            raise unused_error(unused, ' + '.join(p['module'] for p in _parts(cfg)), prefix)
        if patterns:
            report.append(f'ignored by request ({", ".join(patterns)}): {len(ignored)} checkpoint '
                          f'tensor(s) not used' + (f' ({", ".join(ignored[:6])}'
                                                   f'{" ..." if len(ignored) > 6 else ""})'
                                                   if ignored else ''))
    return report


def run_benchmark(config: str, checkpoint: str, work_dir: Optional[str] = None,
                  cfg_options: Optional[dict] = None, launcher: str = 'none',
                  run_test: bool = True, benchmark: Optional[str] = None,
                  batch_mode: str = 'accumulate', seed: Optional[int] = None,
                  teacher: Optional[bool] = None, trust: bool = False,
                  ignore_keys: Sequence[str] = ()) -> dict:
    """Fine-tune ``config`` from ``checkpoint`` ('none' for random init); returns the metrics.

    ``teacher``: None (default) takes the backbone the checkpoint's method reports (LOCA: its EMA
    teacher), True / False force the teacher's / the online one; ``trust``: allow a fully pickled
    checkpoint (see :func:`~densepre.transfer.checkpoint.extract_backbone`). ``ignore_keys``:
    shell-style patterns of checkpoint tensors the downstream model may leave unused (added to
    the config's ``pretrained_ignore_keys``); any other unused tensor fails the run.

    ``batch_mode``: 'accumulate' keeps the paper's batch, lr and schedule on fewer GPUs by
    gradient accumulation; 'scale' keeps the per-GPU batch and scales the lr (see
    :mod:`densepre.transfer.effective_batch`). ``seed``: ``randomness.seed`` of this run, which
    then gets its own work dir ``<work dir>/seed<seed>`` (several seeds: mean ± std in
    tools/benchmarks/summarize.py).
    """
    if not osp.isfile(config):
        raise FileNotFoundError(f'config file not found: {config}')
    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    register_scope(cfg.get('default_scope'))
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        if cfg.get(loader) and not cfg[loader].get('num_workers'):
            # persistent_workers means nothing without workers, and torch refuses the pair
            cfg[loader]['persistent_workers'] = False
    check_dataset_roots(cfg, config)
    batch_info = keep_paper_batch(cfg, world_size_from_env(launcher), batch_mode)
    benchmark = benchmark or osp.splitext(osp.basename(config))[0]
    cfg.work_dir = work_dir or cfg.get('work_dir') or default_work_dir(benchmark, checkpoint)
    if seed is not None:
        cfg.randomness = dict(cfg.get('randomness') or {}, seed=seed)
        cfg.work_dir = osp.join(cfg.work_dir, f'seed{seed}')
    cfg.launcher = launcher

    report = ['no pretraining checkpoint: the backbone starts from random init']
    staging = tempfile.mkdtemp(prefix='densepre-weights-')
    try:
        if checkpoint == 'none':
            print_log(report[0], logger='current', level=logging.WARNING)
            inject_pretrained(cfg, None)
        else:
            staged = osp.join(staging, 'pretrained_backbone.pth')
            which = []
            pretrained = extract_backbone(checkpoint, staged, trust=trust, teacher=teacher,
                                          log=which.append)
            patterns = ignore_patterns(cfg, ignore_keys)
            if patterns:
                which.append('checkpoint tensors matching --ignore-keys / pretrained_ignore_keys '
                             f'{patterns} may stay unused (deliberate drops)')
            for line in which:
                print_log(line, logger='current')
            inject_pretrained(cfg, staged)
            report = which + [f'complete loading verified: {line} ({checkpoint})'
                              for line in verify(cfg, pretrained, ignore_keys)]
            for line in report[len(which):]:
                print_log(line, logger='current')
            os.makedirs(cfg.work_dir, exist_ok=True)
            final = osp.join(cfg.work_dir, 'pretrained_backbone.pth')
            shutil.move(staged, final)
            inject_pretrained(cfg, final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)

    from densepre.engine.runner import DenseRunner
    runner = DenseRunner.from_cfg(cfg)
    for line in report:  # again, into the run's own log file
        runner.logger.info(line)
    runner.logger.info(describe(batch_info, len(runner.train_dataloader.dataset)))
    runner.train()
    metrics = runner.test() if run_test and cfg.get('test_dataloader') else {}
    if run_test and cfg.get('test_dataloader') and not metrics:
        # e.g. mmdet's CocoMetric returns {} when the model detected nothing at all
        print_log('the test produced no metrics (see the evaluator messages above); '
                  'metrics.json records an empty "metrics"', logger='current',
                  level=logging.WARNING)
    result = dict(benchmark=benchmark, config=osp.abspath(config),
                  checkpoint=checkpoint if checkpoint == 'none' else osp.abspath(checkpoint),
                  seed=cfg.get('randomness', {}).get('seed'),
                  weights=report[0] if checkpoint != 'none' else 'random init',
                  schedule={k: batch_info[k] for k in ('effective_batch', 'accumulation',
                                                        'world_size', 'mode')},
                  metrics={k: float(v) for k, v in (metrics or {}).items()})
    if runner.rank == 0:
        tmp = osp.join(cfg.work_dir, 'metrics.json.part')
        with open(tmp, 'w') as f:
            json.dump(result, f, indent=2)
        os.replace(tmp, osp.join(cfg.work_dir, 'metrics.json'))
    return result
