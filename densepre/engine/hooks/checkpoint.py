"""MMEngine's ``CheckpointHook`` made kill-safe, with its arguments checked when it is built.

MMEngine's hook deletes the oldest checkpoint *before* writing the new one, so with
``max_keep_ckpts=1`` a kill during the save leaves no checkpoint at all, and it writes
``last_checkpoint`` (an absolute path) in place. This hook

* writes the new checkpoint (atomically, see :class:`DenseRunner`), then points
  ``last_checkpoint`` at it (written to a temporary file and renamed; relative to the work dir, so
  a copied work dir resumes from its own files), and only then deletes the oldest checkpoint;
* refuses to save weights that are not sound: NaN/Inf, so large that their square overflows
  float32 (NaN at the next step), or above a sanity bound (``max_abs_weight``, default 1e6;
  BN running variances: its square) — a finite but poisoned checkpoint (one BN weight of 1e19)
  would otherwise be saved and later recommended. The error names the last checkpoint whose
  weights pass the same check (older poisoned files are skipped and said so);
* rejects unknown arguments at start (MMEngine forwards them to ``save_checkpoint`` and fails
  only at the first save, one interval later).
"""
import difflib
import glob
import inspect
import logging
import os
import os.path as osp
from typing import Iterable, List, Optional, Sequence, Tuple

import torch
from mmengine.dist import is_main_process
from mmengine.hooks import CheckpointHook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper

from densepre.registry import HOOKS

POINTER = 'last_checkpoint'


def write_last_checkpoint(work_dir: str, ckpt_path: str) -> None:
    """Atomically point ``work_dir/last_checkpoint`` at ``ckpt_path`` (relative if inside)."""
    target = ckpt_path
    if '://' not in ckpt_path:
        rel = osp.relpath(osp.abspath(ckpt_path), osp.abspath(work_dir))
        if not rel.startswith('..'):
            target = rel
    tmp = osp.join(work_dir, POINTER + '.part')
    with open(tmp, 'w') as f:
        f.write(target)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, osp.join(work_dir, POINTER))


def read_last_checkpoint(work_dir: str) -> Optional[str]:
    """The checkpoint ``work_dir/last_checkpoint`` names (resolved against the work dir), or
    None without a pointer file. A pointer to a missing file is an error listing what exists."""
    pointer = osp.join(work_dir, POINTER)
    if not osp.isfile(pointer):
        return None
    with open(pointer) as f:
        target = f.read().strip()
    if not target:
        raise RuntimeError(f'{pointer} is empty')
    if '://' in target:
        return target
    path = target if osp.isabs(target) else osp.join(work_dir, target)
    if not osp.isfile(path):
        found = sorted(osp.basename(p) for p in glob.glob(osp.join(work_dir, '*.pth')))
        raise FileNotFoundError(f'{pointer} names {target}, which does not exist (checkpoints in '
                                f'{work_dir}: {found or "none"}). Resume from one of them with '
                                '--resume PATH.')
    return path


#: weights / buffers above this magnitude (BN running variances: above its square) are taken for
#: a diverged or poisoned model; trained ResNet / ViT weights are O(1), BN variances rarely 1e4
MAX_ABS_WEIGHT = 1e6


def unsound_tensors(state: dict, bound: Optional[float] = MAX_ABS_WEIGHT) -> List[str]:
    """Names (with the reason) of floating tensors holding NaN/Inf, whose squared sum overflows
    float32, or whose largest magnitude exceeds ``bound`` (``running_var``: ``bound**2``)."""
    bad = []
    for name, t in state.items():
        if not isinstance(t, torch.Tensor) or not t.is_floating_point() or not t.numel():
            continue
        t = t.detach()
        if not bool(torch.isfinite(t).all()):
            bad.append(f'{name} (NaN/Inf)')
            continue
        peak = float(t.abs().max())
        limit = None if bound is None else (bound**2 if name.endswith('running_var') else bound)
        if not bool(torch.isfinite(t.float().pow(2).sum())) or (limit is not None
                                                                 and peak > limit):
            bad.append(f'{name} (max |w| = {peak:.3g})')
    return bad


def non_finite_tensors(state: dict) -> List[str]:
    """Names of floating tensors holding NaN/Inf or whose squared sum overflows float32."""
    return unsound_tensors(state, bound=None)


def _candidates(work_dir: str) -> Iterable[str]:
    seen = set()
    try:
        first = read_last_checkpoint(work_dir)
    except (OSError, RuntimeError):
        first = None
    rest = sorted(glob.glob(osp.join(work_dir, '*.pth')), key=osp.getmtime, reverse=True)
    for path in ([first] if first else []) + rest:
        if path not in seen:
            seen.add(path)
            yield path


def last_finite_checkpoint(work_dir: str, limit: int = 8, bound: Optional[float] = MAX_ABS_WEIGHT,
                           skip: Sequence[str] = ()) -> Tuple[Optional[str], List[str]]:
    """(the newest checkpoint of ``work_dir`` whose weights are all sound (:func:`unsound_tensors`),
    notes on the newer ones that are not). Loads at most ``limit`` files, weights-only; the files
    in ``skip`` are known to be unsound."""
    from densepre.engine.checkpoint_io import read_checkpoint
    notes = []
    skip = {osp.abspath(p) for p in skip}
    for i, path in enumerate(_candidates(work_dir)):
        if i >= limit:
            break
        if osp.abspath(path) in skip:
            notes.append(f'{osp.basename(path)}: implausible weights (above)')
            continue
        try:
            state = read_checkpoint(path).get('state_dict', {})
        except Exception as e:  # noqa: BLE001 - an unreadable file is not the answer
            notes.append(f'{osp.basename(path)}: unreadable ({type(e).__name__})')
            continue
        bad = unsound_tensors(state, bound)
        if not bad:
            return path, notes
        notes.append(f'{osp.basename(path)}: non-finite or implausibly large weights, may be '
                     f'poisoned too ({", ".join(bad[:3])})')
    return None, notes


def describe_last_finite(work_dir: str, bound: Optional[float] = MAX_ABS_WEIGHT,
                         skip: Sequence[str] = ()) -> str:
    path, notes = last_finite_checkpoint(work_dir, bound=bound, skip=skip)
    skipped = f' (newer but unusable: {"; ".join(notes)})' if notes else ''
    what = 'finite weights' + (f' within |w| <= {bound:g}' if bound is not None else '')
    if path is None:
        return (f'no checkpoint in {work_dir} has {what}{skipped}: restart from scratch '
                '(with a lower lr / warm-up)')
    return (f'the last checkpoint with {what} is {path}{skipped}; resume from it with '
            f'--resume {path} (consider a lower lr: its optimizer state is restored too)')


@HOOKS.register_module()
class SafeCheckpointHook(CheckpointHook):
    """``CheckpointHook`` that never deletes a checkpoint before its successor is complete.

    Same arguments as MMEngine's ``CheckpointHook``; the extra keyword arguments it forwards to
    ``Runner.save_checkpoint`` are checked here. ``DenseRunner`` uses it in place of every
    ``CheckpointHook``.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        from mmengine.runner import Runner
        ours = set(inspect.signature(CheckpointHook.__init__).parameters) - {'self', 'kwargs'}
        forwarded = set(inspect.signature(Runner.save_checkpoint).parameters) - {
            'self', 'out_dir', 'filename', 'meta', 'by_epoch', 'save_optimizer',
            'save_param_scheduler', 'file_client_args', 'backend_args'}
        unknown = sorted(set(self.args) - forwarded)
        if unknown:
            hints = []
            for k in unknown:
                close = difflib.get_close_matches(k, sorted(ours | forwarded), n=1, cutoff=0.6)
                hints.append(f'{k!r}' + (f' (did you mean {close[0]!r}?)' if close else ''))
            raise TypeError(f'default_hooks.checkpoint: unknown argument(s) {", ".join(hints)}; '
                            f'CheckpointHook takes {sorted(ours)}')

    def _save_checkpoint_with_step(self, runner, step, meta):
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        bound = runner.cfg.get('max_abs_weight', MAX_ABS_WEIGHT)
        bad = unsound_tensors(model.state_dict(), bound)
        ckpt_filename = self.filename_tmpl.format(step)
        if bad:
            raise FloatingPointError(
                f'not saving {ckpt_filename}: {len(bad)} model tensors are not finite or '
                f'implausibly large (|w| > {bound:g}) at iteration {runner.iter} (epoch '
                f'{runner.epoch + 1}): {", ".join(bad[:5])}{" ..." if len(bad) > 5 else ""}. '
                + describe_last_finite(self.out_dir, bound=bound))

        drop = None
        if self.max_keep_ckpts > 0 and not (self.keep_ckpt_ids
                                            and self.keep_ckpt_ids[-1] == step):
            if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                drop = self.keep_ckpt_ids.popleft()
            self.keep_ckpt_ids.append(step)
            runner.message_hub.update_info('keep_ckpt_ids', list(self.keep_ckpt_ids))

        self.last_ckpt = self.file_backend.join_path(self.out_dir, ckpt_filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        runner.save_checkpoint(
            self.out_dir,
            ckpt_filename,
            self.file_client_args,
            save_optimizer=self.save_optimizer,
            save_param_scheduler=self.save_param_scheduler,
            meta=meta,
            by_epoch=self.by_epoch,
            backend_args=self.backend_args,
            **self.args)
        if not is_main_process():
            return
        write_last_checkpoint(runner.work_dir, self.last_ckpt)
        if drop is not None and drop != step:  # only now: the new checkpoint is complete
            old = self.file_backend.join_path(self.out_dir, self.filename_tmpl.format(drop))
            if self.file_backend.isfile(old):
                self.file_backend.remove(old)
            elif self.file_backend.isdir(old):
                self.file_backend.rmtree(old)
            print_log(f'removed {old} (max_keep_ckpts={self.max_keep_ckpts})', logger='current',
                      level=logging.DEBUG)
