"""Keep a benchmark config's paper batch and schedule on any number of GPUs.

A benchmark config states the paper's total batch as ``auto_scale_lr.base_batch_size`` and the
paper's per-GPU batch as ``train_dataloader.batch_size``. On fewer GPUs than the paper's:

* ``accumulate`` (default): gradients of ``n`` micro-batches are accumulated (MMEngine's
  ``optim_wrapper.accumulative_counts``) so that ``per-GPU batch x n x GPUs`` equals the paper's
  batch; the lr stays the paper's and an *iteration* keeps the paper's meaning of one optimizer
  step. MMEngine's loops, schedulers and hooks count loop iterations, i.e. micro-batches, so every
  iteration-valued setting (``max_iters``, ``val_interval``, iteration-based scheduler
  ``begin`` / ``end`` / ``milestones`` / ``T_max`` / ``step_size``, iteration-based checkpoint
  interval) is multiplied by ``n``. Epoch-based settings are unchanged (an epoch is the same
  images). BN layers still normalise over the per-GPU micro-batch.
* ``scale``: the previous behaviour -- the per-GPU batch is kept, fewer images per optimizer step,
  the lr is scaled linearly by ``auto_scale_lr``, the number of iterations is unchanged (fewer
  epochs).
"""
import math
import os
from typing import Optional

from mmengine.config import Config

MODES = ('accumulate', 'scale')


class PaperBatchError(ValueError):
    """The paper's total batch cannot be split over the available processes."""


def world_size_from_env(launcher: str) -> int:
    """Number of training processes the runner will see (before it initialises them)."""
    if launcher == 'none':
        return 1
    for key in ('WORLD_SIZE', 'SLURM_NTASKS', 'OMPI_COMM_WORLD_SIZE'):
        if os.environ.get(key):
            return int(os.environ[key])
    return 1


def _split(paper_batch: int, per_gpu: int, world_size: int):
    """(per-GPU micro-batch, accumulation steps) with micro x steps x world == paper_batch."""
    if per_gpu * world_size >= paper_batch:
        if paper_batch % world_size:
            raise PaperBatchError(
                f'the paper batch {paper_batch} cannot be split evenly over {world_size} GPUs')
        return paper_batch // world_size, 1
    for steps in range(math.ceil(paper_batch / (per_gpu * world_size)),
                       paper_batch // world_size + 1):
        if paper_batch % (steps * world_size) == 0:
            return paper_batch // (steps * world_size), steps
    raise PaperBatchError(
        f'the paper batch {paper_batch} cannot be split evenly over {world_size} GPUs')


def _times(value, n):
    return value if value is None or (isinstance(value, float) and math.isinf(value)) \
        else value * n


def _scale_iterations(cfg: Config, n: int) -> None:
    train_cfg = cfg.get('train_cfg') or {}
    if 'max_iters' in train_cfg:
        train_cfg['max_iters'] *= n
        if train_cfg.get('val_interval'):
            train_cfg['val_interval'] *= n
    schedulers = cfg.get('param_scheduler') or []
    for sch in (schedulers if isinstance(schedulers, (list, tuple)) else [schedulers]):
        if sch.get('by_epoch', True):  # MMEngine's default; epochs keep their meaning
            continue
        for key in ('begin', 'end', 'T_max', 'step_size'):
            if key in sch:
                sch[key] = _times(sch[key], n)
        if 'milestones' in sch:
            sch['milestones'] = [m * n for m in sch['milestones']]
    ckpt = (cfg.get('default_hooks') or {}).get('checkpoint')
    if ckpt and ckpt.get('by_epoch', True) is False and ckpt.get('interval', 0) > 0:
        ckpt['interval'] *= n


def _lr(cfg: Config) -> Optional[float]:
    return ((cfg.get('optim_wrapper') or {}).get('optimizer') or {}).get('lr')


def keep_paper_batch(cfg: Config, world_size: int, mode: str = 'accumulate') -> dict:
    """Adapt ``cfg`` in place for ``world_size`` processes; returns what the run will do.

    The returned dict has ``paper_batch``, ``per_gpu``, ``accumulation``, ``world_size``,
    ``effective_batch``, ``lr``, ``mode`` and, for iteration-based loops, ``optimizer_steps``.
    """
    if mode not in MODES:
        raise ValueError(f'batch mode must be one of {MODES}, got {mode!r}')
    auto = cfg.get('auto_scale_lr') or {}
    paper_batch = auto.get('base_batch_size')
    per_gpu = cfg.train_dataloader.batch_size
    info = dict(mode=mode, world_size=world_size, per_gpu=per_gpu, accumulation=1,
                paper_batch=paper_batch)
    if paper_batch is None:
        info.update(mode='config', effective_batch=per_gpu * world_size, lr=_lr(cfg))
    elif mode == 'scale':
        real = per_gpu * world_size
        scaled = auto.get('enable', False) and real != paper_batch
        info.update(effective_batch=real,
                    lr=_lr(cfg) * real / paper_batch if scaled and _lr(cfg) else _lr(cfg))
    else:
        micro, steps = _split(paper_batch, per_gpu, world_size)
        cfg.train_dataloader.batch_size = micro
        if steps > 1:
            cfg.optim_wrapper['accumulative_counts'] = steps
            _scale_iterations(cfg, steps)
        cfg.auto_scale_lr = dict(auto, enable=False)  # the lr stays the paper's
        info.update(per_gpu=micro, accumulation=steps, effective_batch=micro * steps * world_size,
                    lr=_lr(cfg))
    if 'max_iters' in (cfg.get('train_cfg') or {}):
        info['optimizer_steps'] = cfg.train_cfg.max_iters // info['accumulation']
    else:
        info['epochs'] = (cfg.get('train_cfg') or {}).get('max_epochs')
    return info


def describe(info: dict, dataset_len: Optional[int] = None) -> str:
    """One line: effective batch, lr and length in epochs (needs the training set's size)."""
    text = (f'effective batch {info["effective_batch"]} = {info["per_gpu"]} per GPU x '
            f'{info["world_size"]} GPU(s) x {info["accumulation"]} accumulation step(s)')
    if info.get('paper_batch') is not None:
        text += f' (paper: {info["paper_batch"]})'
    text += f'; lr {info["lr"]:g}' if info.get('lr') is not None else ''
    if 'optimizer_steps' in info:
        text += f'; {info["optimizer_steps"]} optimizer steps'
        if dataset_len:
            text += (f' = {info["optimizer_steps"] * info["effective_batch"] / dataset_len:.1f} '
                     f'epochs of {dataset_len} training images')
    elif info.get('epochs') is not None:
        text += f'; {info["epochs"]} epochs' + (f' of {dataset_len} training images'
                                               if dataset_len else '')
    text += (f'; BN batch {info["per_gpu"]} image(s) per GPU (x {info["world_size"]} GPU(s) '
             'with SyncBN): accumulation does not change it')
    mode = {'accumulate': 'paper batch kept by gradient accumulation',
            'scale': 'scaled mode: lr scaled linearly to the batch, iterations unchanged',
            'config': 'the config declares no paper batch (auto_scale_lr.base_batch_size)'}
    return text + f' [{mode[info["mode"]]}]'
