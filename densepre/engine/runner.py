"""densepre's Runner: MMEngine's Runner plus what long pretraining jobs need to survive.

* Checkpoints are written atomically (to ``<name>.part``, then renamed); the checkpoint hook
  (:class:`~densepre.engine.hooks.SafeCheckpointHook`, used in place of every ``CheckpointHook``)
  points ``last_checkpoint`` at the new file (atomically, relative to the work dir) and deletes the
  oldest checkpoint only after that, so a kill at any moment leaves a complete checkpoint that
  ``--resume auto`` finds. A failed write (full disk) removes the ``.part`` file and says so.
* Checkpoints hold only tensors and plain containers and load with
  ``torch.load(weights_only=True)`` (:mod:`densepre.engine.checkpoint_io`); they carry a SHA-256 of
  their content that is verified on load. ``--resume`` and ``load_from`` never unpickle
  arbitrary objects unless ``trust_checkpoint=True`` (``tools/train.py --trust-checkpoint``).
* Checkpoints record the RNG states and the world size; ``--resume`` restores the RNG states,
  refuses a model whose tensors differ from the checkpoint's (naming the file and the keys) and
  refuses a different world size unless ``resume_allow_world_size_change=True`` (the global
  batch, the LR and MoCo's queue arithmetic would silently change). Data augmentation is seeded
  per sample (:mod:`densepre.datasets.seeding`), so a resumed run reproduces the uninterrupted
  losses with any number of (persistent) workers.
* ``--resume`` compares the optimisation and data settings (:data:`RESUME_SETTINGS`) with those
  recorded in the checkpoint and refuses a change unless ``resume_override`` (``tools/train.py
  --resume-override KEY ...``) names it; an overridden optimizer hyperparameter (e.g. ``lr``) is
  applied to the restored optimizer and schedulers, and every override is logged old -> new.
* The work dir is locked while a run writes into it (:class:`WorkDirLock`): a second training in
  the same work dir is refused, naming the process holding it; the lock of a killed process is
  released by the operating system.
* ``env_cfg`` (also ``dist_cfg`` / ``mp_cfg``) and ``randomness`` keys are checked: a typo is an
  error naming the key, not a silently applied default.
* A data loader that would yield no batch (``batch_size`` larger than the data with
  ``drop_last=True``, or an empty dataset) is refused when it is built, before training.
* Distributed runs on CPU (gloo): the process group is created without touching CUDA, with the
  collective timeout ``env_cfg.dist_cfg.timeout`` (seconds), SyncBN is reverted to BN (SyncBN is
  GPU-only) and DDP wraps the model without ``device_ids``.
* Single-process runs of SyncBN configs revert SyncBN to BN with one warning; AMP configs run
  fp16 on GPUs, bf16 autocast on CPUs with bf16 instructions and fp32 (one warning) on other
  CPUs (densepre/engine/amp.py). ``channels_last = True`` in a config makes the model and the
  data preprocessor's output channels-last (densepre/engine/channels_last.py).
"""
import contextlib
import copy
import datetime
import difflib
import errno
import fcntl
import inspect
import json
import logging
import os
import os.path as osp
import random
import shutil
import socket
from typing import Dict, Optional, Sequence

import numpy as np
import torch
import torch.distributed as torch_dist
from mmengine.dist import get_world_size, is_distributed, master_only
from mmengine.logging import print_log
from mmengine.model import MMDistributedDataParallel, is_model_wrapper, revert_sync_batchnorm
from mmengine.runner import Runner

from densepre.registry import RUNNERS
from .amp import amp_optim_wrapper_cfg  # speed (issue 15)
from .channels_last import apply_channels_last  # speed (issue 15)
from .checkpoint_io import trusted_torch_load  # noqa: F401 (re-exported)


def _has_sync_bn(model: torch.nn.Module) -> bool:
    return any(isinstance(m, torch.nn.SyncBatchNorm) or 'SyncBatchNorm' in type(m).__name__
               for m in model.modules())


DEFAULT_DIST_TIMEOUT = 600  # seconds; see docs/reliability.md


# ----------------------------------------------------------------------------- config key checks
def _init_process_group_args() -> set:
    return set(inspect.signature(torch_dist.init_process_group).parameters)


#: the keys MMEngine's ``setup_env`` / ``set_randomness`` read (anything else is ignored by them)
ENV_CFG_KEYS = {'cudnn_benchmark', 'mp_cfg', 'dist_cfg', 'resource_limit'}
MP_CFG_KEYS = {'mp_start_method', 'opencv_num_threads'}
RANDOMNESS_KEYS = {'seed', 'diff_rank_seed', 'deterministic'}


def check_keys(where: str, given, known) -> None:
    """Refuse keys of the dict ``given`` (config path ``where``) that are not in ``known``."""
    if given is None:
        return
    if not isinstance(given, dict):
        raise TypeError(f'{where} must be a dict, got {type(given).__name__}: {given!r}')
    problems = []
    for key in sorted(set(given) - set(known)):
        close = difflib.get_close_matches(key, sorted(known), n=1, cutoff=0.6)
        problems.append(f'{key!r}' + (f' (did you mean {close[0]!r}?)' if close else ''))
    if problems:
        raise KeyError(f'{where}: unknown key(s) {", ".join(problems)}; known keys: '
                       f'{sorted(known)}. A misspelt key would be ignored silently and its '
                       'default used.')


def check_env_cfg(env_cfg) -> None:
    """Typos in ``env_cfg`` / ``env_cfg.dist_cfg`` / ``env_cfg.mp_cfg`` are errors (issue 20:
    ``dist_cfg.timout=20`` silently left the 600 s default in place)."""
    check_keys('env_cfg', env_cfg, ENV_CFG_KEYS)
    env_cfg = env_cfg or {}
    check_keys('env_cfg.mp_cfg', env_cfg.get('mp_cfg'), MP_CFG_KEYS)
    check_keys('env_cfg.dist_cfg', env_cfg.get('dist_cfg'), _init_process_group_args())


# ----------------------------------------------------------------------------- work-dir lock
LOCK_NAME = '.densepre.lock'
_HELD_LOCKS: Dict[str, list] = {}  # path -> [fd, count]: re-entrant within one process


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class WorkDirLock:
    """An exclusive lock on ``work_dir`` for the lifetime of a training run.

    ``fcntl.flock`` on ``work_dir/.densepre.lock``: the kernel releases it when the holder exits,
    also on ``kill -9``, so a stale lock file of a dead process never blocks. On file systems
    without ``flock`` (some NFS mounts) the recorded pid is checked instead (same host: alive or
    not). The file holds who holds the lock, for the error message.
    """

    def __init__(self, work_dir: str) -> None:
        self.path = osp.join(osp.abspath(work_dir), LOCK_NAME)
        self.fd = None

    def _holder(self) -> str:
        with contextlib.suppress(OSError):
            with open(self.path) as f:
                return f.read().strip()
        return 'unknown process'

    def _refuse(self, holder: str):
        raise RuntimeError(
            f'work dir {osp.dirname(self.path)} is in use by another training ({holder}): two '
            "runs in one work dir overwrite each other's checkpoints and last_checkpoint. Wait "
            'for it to end, stop it, or use another --work-dir. (Lock file '
            f'{self.path}; released when that process exits, also when it is killed.)')

    def acquire(self) -> 'WorkDirLock':
        held = _HELD_LOCKS.get(self.path)
        if held is not None:
            held[1] += 1
            self.fd = held[0]
            return self
        os.makedirs(osp.dirname(self.path), exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            self._refuse(self._holder())
        except OSError as e:  # no flock on this file system: fall back to the recorded pid
            if e.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS):
                os.close(fd)
                raise
            info = {}
            with contextlib.suppress(ValueError, OSError):
                info = json.loads(self._holder())
            if (info.get('host') == socket.gethostname() and info.get('pid') != os.getpid()
                    and _pid_alive(int(info.get('pid', 0)))):
                os.close(fd)
                self._refuse(json.dumps(info))
        me = dict(pid=os.getpid(), host=socket.gethostname(),
                  started=datetime.datetime.now().isoformat(timespec='seconds'))
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(me).encode(), 0)
        self.fd = fd
        _HELD_LOCKS[self.path] = [fd, 1]
        return self

    def release(self) -> None:
        held = _HELD_LOCKS.get(self.path)
        if self.fd is None or held is None:
            return
        held[1] -= 1
        self.fd = None
        if held[1] == 0:
            del _HELD_LOCKS[self.path]
            with contextlib.suppress(OSError):
                os.ftruncate(held[0], 0)
            with contextlib.suppress(OSError):
                fcntl.flock(held[0], fcntl.LOCK_UN)
            os.close(held[0])


# ----------------------------------------------------------------------------- resume settings
#: config subtrees a resumed run must not change silently (optimisation and data; the training
#: length, ``train_cfg``, is free: extending a run is what resuming is for)
RESUME_SETTINGS = ('optim_wrapper', 'param_scheduler', 'train_dataloader', 'auto_scale_lr')
#: loader settings that change speed, not the data or the order (free to change on resume)
RESUME_FREE = ('train_dataloader.num_workers', 'train_dataloader.persistent_workers',
               'train_dataloader.pin_memory', 'train_dataloader.prefetch_factor')
OPTIMIZER_PREFIX = 'optim_wrapper.optimizer.'


def _override_applies(key: str) -> bool:
    """Whether a resumed run really uses the new value of ``key``: the data loader is built from
    the config, optimizer hyperparameters are re-applied (``DenseRunner._apply_overrides``);
    the optimizer wrapper and the schedulers are restored from the checkpoint."""
    if key == 'train_dataloader' or key.startswith('train_dataloader.'):
        return True
    rest = key[len(OPTIMIZER_PREFIX):] if key.startswith(OPTIMIZER_PREFIX) else ''
    return bool(rest) and '.' not in rest and rest != 'type'


def _flatten(obj, prefix: str, out: dict) -> dict:
    if isinstance(obj, dict):
        for k in sorted(obj, key=str):
            _flatten(obj[k], f'{prefix}.{k}' if prefix else str(k), out)
    elif isinstance(obj, (list, tuple)):
        if not obj:
            out[prefix] = '[]'
        for i, v in enumerate(obj):
            _flatten(v, f'{prefix}.{i}', out)
    else:
        out[prefix] = (f'{obj.__module__}.{obj.__qualname__}' if isinstance(obj, type)
                       else repr(obj))
    return out


def resume_settings(cfg) -> Dict[str, str]:
    """``{dotted key: repr(value)}`` of the :data:`RESUME_SETTINGS` of a config."""
    out = {}
    for key in RESUME_SETTINGS:
        value = cfg.get(key) if cfg is not None else None
        if value is not None:
            value = value.to_dict() if hasattr(value, 'to_dict') else value
            _flatten(copy.deepcopy(value), key, out)
    return {k: v for k, v in out.items() if not k.startswith(RESUME_FREE)}


def _covered(key: str, names: Sequence[str]) -> Optional[str]:
    for name in names:
        if key == name or key.startswith(name + '.'):
            return name
    return None


def get_rng_state() -> dict:
    state = dict(
        python=random.getstate(), numpy=np.random.get_state(), torch=torch.get_rng_state())
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state['cuda'] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    random.setstate(state['python'])
    np.random.set_state(state['numpy'])
    torch.set_rng_state(state['torch'].cpu())
    if 'cuda' in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state['cuda']])


def _is_checkpoint_hook_type(t) -> bool:
    from mmengine.hooks import CheckpointHook
    return t in ('CheckpointHook', 'mmengine.CheckpointHook') or t is CheckpointHook


def model_mismatch(model: torch.nn.Module, state: dict) -> list:
    """Lines describing how ``state`` (a state dict, ``module.`` stripped) differs from
    ``model``'s: missing / unexpected keys and shape mismatches."""
    own = model.state_dict()
    state = {k[len('module.'):] if k.startswith('module.') else k: v for k, v in state.items()}
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = [f'{k} {tuple(own[k].shape)} vs {tuple(state[k].shape)}' for k in own
              if k in state and hasattr(state[k], 'shape')
              and tuple(own[k].shape) != tuple(state[k].shape)]
    lines = []
    if missing:
        lines.append(f'{len(missing)} model tensors not in the checkpoint: '
                     + ', '.join(missing[:8]) + (' ...' if len(missing) > 8 else ''))
    if unexpected:
        lines.append(f'{len(unexpected)} checkpoint tensors the model does not have: '
                     + ', '.join(unexpected[:8]) + (' ...' if len(unexpected) > 8 else ''))
    if shapes:
        lines.append(f'{len(shapes)} shape mismatches (model vs checkpoint): '
                     + '; '.join(shapes[:6]) + (' ...' if len(shapes) > 6 else ''))
    return lines


@RUNNERS.register_module()
class DenseRunner(Runner):
    """MMEngine ``Runner`` with kill-safe weights-only checkpoints, exact resume and
    CPU-distributed support.

    Config keys it reads besides MMEngine's: ``resume_allow_world_size_change`` (bool),
    ``trust_checkpoint`` (bool; set by ``tools/train.py --trust-checkpoint``),
    ``resume_override`` (list of config keys; ``tools/train.py --resume-override``),
    ``max_abs_weight`` (float, default :data:`~densepre.engine.hooks.checkpoint.MAX_ABS_WEIGHT`)
    and ``env_cfg.dist_cfg.timeout`` (seconds, default :data:`DEFAULT_DIST_TIMEOUT`).
    """

    def set_randomness(self, *args, **kwargs) -> None:
        check_keys('randomness', kwargs, RANDOMNESS_KEYS)
        super().set_randomness(*args, **kwargs)

    def setup_env(self, env_cfg: dict) -> None:
        check_env_cfg(env_cfg)
        env_cfg = copy.deepcopy(dict(env_cfg))
        dist_cfg = dict(env_cfg.get('dist_cfg') or {})
        timeout = dist_cfg.setdefault('timeout', DEFAULT_DIST_TIMEOUT)
        if not isinstance(timeout, (int, float)) or timeout <= 0:
            raise ValueError(f'env_cfg.dist_cfg.timeout must be a positive number of seconds, '
                             f'got {timeout!r}')
        env_cfg['dist_cfg'] = dist_cfg
        self._dist_timeout = timeout
        # MMEngine's init_dist calls torch.cuda.set_device(LOCAL_RANK), which fails on a CPU-only
        # machine: create the gloo process group ourselves from torchrun's env:// variables.
        if self._launcher != 'none' and not torch.cuda.is_available() and not is_distributed():
            backend = dist_cfg.get('backend', 'gloo')
            if backend != 'gloo':
                print_log(f'no CUDA device: using the gloo backend instead of {backend!r}',
                          logger='current', level=logging.WARNING)
            torch_dist.init_process_group(backend='gloo',
                                          timeout=datetime.timedelta(seconds=timeout))
        super().setup_env(env_cfg)

    def register_default_hooks(self, hooks: Optional[dict] = None) -> None:
        from .hooks.checkpoint import SafeCheckpointHook
        hooks = copy.deepcopy(dict(hooks or {}))
        ckpt = hooks.get('checkpoint', dict(type='CheckpointHook', interval=1))
        if isinstance(ckpt, dict) and _is_checkpoint_hook_type(ckpt.get('type', 'CheckpointHook')):
            hooks['checkpoint'] = dict(ckpt, type=SafeCheckpointHook)
        super().register_default_hooks(hooks)

    def wrap_model(self, model_wrapper_cfg: Optional[dict], model: torch.nn.Module):
        if is_model_wrapper(model):
            return super().wrap_model(model_wrapper_cfg, model)
        model = apply_channels_last(model, self.cfg.get('channels_last', False))  # speed (#15)
        on_cpu = not torch.cuda.is_available()
        if _has_sync_bn(model) and (not self.distributed or on_cpu):
            reason = 'single-process run' if not self.distributed else 'CPU (gloo) run'
            self.logger.warning(f'{reason}: SyncBN layers are reverted to BN (SyncBN needs a '
                                'multi-GPU process group); statistics are per-process.')
            model = revert_sync_batchnorm(model)
        if self.distributed and on_cpu:
            cfg = dict(model_wrapper_cfg or {})
            cfg.pop('type', None)
            cfg.setdefault('broadcast_buffers', False)
            cfg.setdefault('find_unused_parameters', self.cfg.get('find_unused_parameters', False))
            return MMDistributedDataParallel(module=model, device_ids=None, **cfg)
        return super().wrap_model(model_wrapper_cfg, model)

    def build_optim_wrapper(self, optim_wrapper):
        # speed (#15): AMP -> fp16 on GPU, bf16 on a CPU with bf16, else fp32 with one warning
        optim_wrapper = amp_optim_wrapper_cfg(optim_wrapper, logger=self.logger)
        return super().build_optim_wrapper(optim_wrapper)

    @staticmethod
    def build_dataloader(dataloader, seed: Optional[int] = None, diff_rank_seed: bool = False):
        """MMEngine's ``build_dataloader`` with per-sample augmentation seeds
        (:class:`~densepre.datasets.seeding.SeededIndexSampler`) and a refusal of loaders that
        would yield no batch."""
        from densepre.datasets.seeding import SeededIndexSampler
        if isinstance(dataloader, dict):
            dataloader = copy.deepcopy(dataloader)
            sampler = dataloader.get('sampler')
            if isinstance(sampler, dict) and sampler.get('type') not in (SeededIndexSampler,
                                                                          'SeededIndexSampler'):
                dataloader['sampler'] = dict(type=SeededIndexSampler, sampler=sampler)
        loader = Runner.build_dataloader(dataloader, seed=seed, diff_rank_seed=diff_rank_seed)
        check_yields_batches(loader)
        if getattr(loader, 'generator', None) is None:
            # the loader draws its workers' base seed when an iterator is created: from its own
            # generator, not the global RNG (a resumed run creates it at another point of the
            # global stream than the uninterrupted run, whose persistent iterator already exists)
            loader.generator = torch.Generator()
            loader.generator.manual_seed(seed if seed is not None else 0)
        return loader

    def call_hook(self, fn_name: str, **kwargs) -> None:
        super().call_hook(fn_name, **kwargs)
        if fn_name == 'before_save_checkpoint':  # after every hook had its say: store safely
            from .checkpoint_io import encode_checkpoint
            try:
                encode_checkpoint(kwargs['checkpoint'])
            except TypeError as e:
                self.logger.warning(f'{e}: this checkpoint is stored with full pickling and '
                                    'resuming from it will need --trust-checkpoint')

    @master_only
    def save_checkpoint(self, out_dir: str, filename: str, *args, meta: Optional[dict] = None,
                        **kwargs) -> None:
        meta = dict(meta or {})
        meta.update(rng_state=get_rng_state(), world_size=get_world_size(),
                    resume_settings=resume_settings(self.cfg))
        from densepre.transfer.checkpoint import REPORTED_KEY, reported_weights_of_model
        meta.setdefault(REPORTED_KEY, reported_weights_of_model(  # which backbone transfers
            self.model.module if is_model_wrapper(self.model) else self.model))
        partial = filename + '.part'
        src, dst = osp.join(out_dir, partial), osp.join(out_dir, filename)
        try:
            super().save_checkpoint(out_dir, partial, *args, meta=meta, **kwargs)
        except OSError as e:
            if osp.exists(src):
                os.remove(src)
            free = ''
            with contextlib.suppress(OSError):
                free = f' ({shutil.disk_usage(out_dir).free / 2**30:.2f} GB free there now)'
            raise OSError(e.errno, f'cannot write checkpoint {dst}: {e.strerror or e}{free}. The '
                          'partial file was removed; the previous checkpoints in '
                          f'{out_dir} are intact. Free space (or set a smaller max_keep_ckpts) '
                          'and resume with --resume auto.') from e
        if osp.exists(src):  # local file systems; remote backends write whole objects anyway
            os.replace(src, dst)

    def load_or_resume(self) -> None:
        """MMEngine's, with ``last_checkpoint`` read relative to the work dir, and a clear
        message (not "resumed from ... None") when ``--resume auto`` finds no checkpoint."""
        if self._has_loaded:
            return None
        resume_from = None
        if self._resume and self._load_from is None:
            from .hooks.checkpoint import POINTER, read_last_checkpoint
            resume_from = read_last_checkpoint(self.work_dir)
            if resume_from is None:
                self.logger.info(f'--resume auto: no {POINTER} file in {self.work_dir}, so no '
                                 'checkpoint to resume from: training starts from scratch.')
                return None
            self.logger.info(f'Auto resuming from the latest checkpoint {resume_from}.')
        elif self._resume:
            resume_from = self._load_from
        if resume_from is not None:
            self.resume(resume_from)
            self._has_loaded = True
        elif self._load_from is not None:
            self.load_checkpoint(self._load_from)
            self._has_loaded = True

    def load_checkpoint(self, filename: str, map_location='cpu', strict: bool = False,
                        revise_keys: list = [(r'^module.', '')]):  # noqa: B006 - MMEngine's
        from mmengine.runner.checkpoint import _load_checkpoint, _load_checkpoint_to_model

        from .checkpoint_io import (CorruptCheckpointError, UntrustedCheckpointError,
                                    read_checkpoint, trust_from_env, verify_and_decode)
        trust = bool(self.cfg.get('trust_checkpoint', False)) or trust_from_env()
        resuming = getattr(self, '_resuming', False)
        try:
            if '://' not in filename:
                checkpoint = read_checkpoint(filename, map_location, trust=trust)
            else:
                with trusted_torch_load() if trust else contextlib.nullcontext():
                    checkpoint = verify_and_decode(
                        _load_checkpoint(filename, map_location=map_location), filename)
        except (FileNotFoundError, UntrustedCheckpointError, CorruptCheckpointError):
            raise
        except Exception as e:  # noqa: BLE001 - re-raised with the file named
            raise RuntimeError(f'cannot load checkpoint {filename}: {type(e).__name__}: {e}. '
                               'The file may be truncated or corrupt (e.g. a killed copy); '
                               'densepre writes checkpoints atomically, so the previous one in '
                               'the work dir is intact.') from e
        if not isinstance(checkpoint, dict):
            raise RuntimeError(f'checkpoint {filename} holds a {type(checkpoint).__name__}, not '
                               'a dict with "state_dict"')
        self.call_hook('after_load_checkpoint', checkpoint=checkpoint)
        model = self.model.module if is_model_wrapper(self.model) else self.model
        if resuming:
            state = checkpoint.get('state_dict', checkpoint)
            self._check_sound(state, filename)
            problems = model_mismatch(model, state)
            if problems:
                raise RuntimeError(
                    f'cannot resume from {filename}: it was written by a different model than '
                    'this config builds:\n  ' + '\n  '.join(problems) + '\nResume with the '
                    'config that wrote it, or start a new run with load_from= (non-strict) '
                    'and a new work dir.')
        checkpoint = _load_checkpoint_to_model(model, checkpoint, strict, revise_keys=revise_keys)
        self._has_loaded = True
        self.logger.info(f'Load checkpoint from {filename}')
        if resuming:
            self._check_world_size(checkpoint.get('meta', {}), filename)
            self._check_resume_settings(checkpoint.get('meta', {}), filename)
            self._resumed_rng_state = checkpoint.get('meta', {}).get('rng_state')
        return checkpoint

    def _check_sound(self, state: dict, filename: str) -> None:
        """Refuse to resume from weights that are not finite or implausibly large."""
        from .hooks.checkpoint import MAX_ABS_WEIGHT, describe_last_finite, unsound_tensors
        bound = float(self.cfg.get('max_abs_weight', MAX_ABS_WEIGHT))
        bad = unsound_tensors(state, bound)
        if bad:
            work_dir = osp.dirname(osp.abspath(filename))
            raise RuntimeError(
                f'cannot resume from {filename}: {len(bad)} tensors are not finite or implausibly '
                f'large (|w| > {bound:g}, BN running_var > {bound**2:g}): '
                + ', '.join(bad[:5]) + (' ...' if len(bad) > 5 else '') + '. The checkpoint '
                'is probably poisoned (a diverging run, or a version without this check '
                'saved it). ' + describe_last_finite(work_dir, bound=bound, skip=(filename, ))
                + ' (If such weights are expected, raise max_abs_weight.)')

    def _check_resume_settings(self, meta: dict, filename: str) -> None:
        """Refuse optimisation / data settings that differ from the checkpoint's, unless
        ``resume_override`` names them; remember the optimizer ones to re-apply after the
        optimizer state is restored."""
        self._pending_overrides = []
        saved = meta.get('resume_settings')
        if saved is None:
            self.logger.warning(f'{filename} records no optimisation / data settings (written '
                                'by another toolbox or an older densepre): changes of lr, '
                                'batch size, schedule ... since then cannot be detected.')
            return
        now = resume_settings(self.cfg)
        overrides = list(self.cfg.get('resume_override') or [])
        changed = sorted(k for k in set(saved) | set(now) if saved.get(k) != now.get(k))
        refused, used = [], set()
        for key in changed:
            old, new = saved.get(key, '<unset>'), now.get(key, '<unset>')
            name = _covered(key, overrides)
            if name is None:
                refused.append(f'{key}: {old} -> {new}')
                continue
            used.add(name)
            if not _override_applies(key):
                raise RuntimeError(
                    f'--resume-override {name}: {key} ({old} -> {new}) cannot take effect in a '
                    'resumed run: the optimizer wrapper and the parameter schedulers are '
                    'restored from the checkpoint. Start a new run with load_from= instead.')
            self.logger.warning(f'--resume-override: {key}: {old} -> {new}')
            self._pending_overrides.append((key, old, new))
        for name in overrides:
            if name not in used:
                self.logger.warning(f'--resume-override {name}: no such setting differs from '
                                    f'the one recorded in {filename}')
        if refused:
            raise RuntimeError(
                f'cannot resume from {filename}: {len(refused)} optimisation / data setting(s) '
                'differ from those the checkpoint was trained with:\n  ' + '\n  '.join(
                    refused[:12]) + ('\n  ...' if len(refused) > 12 else '') + '\nResume with '
                'the same settings, or name the ones you mean to change with --resume-override '
                'KEY ... (config key resume_override=[...]), e.g. --resume-override '
                + ' '.join(r.split(':')[0] for r in refused[:3]))

    def _apply_overrides(self) -> None:
        """Re-apply overridden optimizer hyperparameters to the restored optimizer: the current
        value of every parameter group (and the schedulers' base values) is scaled by new/old,
        so per-group multipliers and the schedule position are kept."""
        import ast
        prefix = OPTIMIZER_PREFIX
        for key, old, new in getattr(self, '_pending_overrides', []):
            if not key.startswith(prefix):
                continue
            name = key[len(prefix):]
            try:
                old_v, new_v = ast.literal_eval(old), ast.literal_eval(new)
            except (ValueError, SyntaxError):
                raise RuntimeError(f'--resume-override {key}: cannot apply {old} -> {new} to '
                                   'the restored optimizer') from None
            numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool)
                          for v in (old_v, new_v))
            wrappers = (self.optim_wrapper.values() if hasattr(self.optim_wrapper, 'values')
                        and not hasattr(self.optim_wrapper, 'optimizer')
                        else [self.optim_wrapper])
            for wrapper in wrappers:
                for group in wrapper.optimizer.param_groups:
                    if name not in group:
                        continue
                    if not numeric or old_v == 0:
                        group[name] = new_v
                    else:
                        group[name] *= new_v / old_v
                    if name == 'lr' and 'initial_lr' in group:
                        group['initial_lr'] = group['lr'] if not numeric or old_v == 0 else \
                            group['initial_lr'] * new_v / old_v
            schedulers = self.param_schedulers or []
            if isinstance(schedulers, dict):
                schedulers = [s for v in schedulers.values() for s in v]
            for sched in schedulers:
                if getattr(sched, 'param_name', None) == name and numeric and old_v != 0:
                    sched.base_values = [v * new_v / old_v for v in sched.base_values]
            self.logger.warning(f'--resume-override: optimizer {name} {old_v} -> {new_v} '
                                'applied to the restored optimizer and schedulers')
    def _check_world_size(self, meta: dict, filename: str) -> None:
        saved, now = meta.get('world_size'), get_world_size()
        if saved is None or saved == now:
            return
        msg = (f'checkpoint {filename} was written by a run with world size {saved}, this run has '
               f'{now}: the global batch (and with it the learning rate and MoCo queue updates) '
               'would change mid-training.')
        if not self.cfg.get('resume_allow_world_size_change', False):
            raise RuntimeError(msg + ' Resume with the same number of processes, or set '
                               '`resume_allow_world_size_change=True` (with auto_scale_lr '
                               'enabled) to continue anyway.')
        self.logger.warning(msg + ' Continuing because resume_allow_world_size_change=True.')

    def resume(self, filename: str, *args, **kwargs) -> None:
        self._resuming = True
        self._resumed_rng_state = None
        try:
            super().resume(filename, *args, **kwargs)
        finally:
            self._resuming = False
        self._apply_overrides()
        if self._resumed_rng_state is not None:
            set_rng_state(self._resumed_rng_state)

    def _maybe_compile(self, target: str) -> None:
        # `compile`: the networks (backbone, neck, heads) in place, not MMEngine's whole
        # train_step (backward, optimizer, EMA) -- densepre/engine/compile.py (issue 24)
        from .compile import compile_parts
        model = self.model.module if is_model_wrapper(self.model) else self.model
        names = compile_parts(model, self.cfg.get('compile', None))
        if names:
            self.logger.info(f'torch.compile: {", ".join(names)} (first iterations are slow)')

    def train(self):
        lock = WorkDirLock(self.work_dir).acquire() if self.rank == 0 else None
        try:
            return super().train()
        except RuntimeError as e:
            timeout = getattr(self, '_dist_timeout', None)
            if self.distributed and 'timed out' in str(e).lower():
                raise RuntimeError(
                    f'rank {self.rank}: a collective operation timed out after {timeout} s '
                    '(env_cfg.dist_cfg.timeout): another process is frozen, or busy alone for '
                    f'longer than that. Original error: {str(e).splitlines()[0]}') from e
            raise
        finally:
            if lock is not None:
                lock.release()


def check_yields_batches(loader) -> None:
    """Refuse a data loader that yields no batch: an empty dataset, or fewer samples per process
    than ``batch_size`` with ``drop_last=True`` (every epoch would be 0 iterations)."""
    dataset = loader.dataset
    try:
        n_data, n_batches = len(dataset), len(loader)
    except TypeError:  # iterable datasets have no length
        return
    what = type(dataset).__name__
    src = getattr(dataset, 'ann_file', None) or getattr(dataset, 'data_root', None)
    what += f' ({src})' if src else ''
    if n_data == 0:
        raise ValueError(f'{what} has no samples')
    if n_batches == 0:
        per_rank = len(loader.sampler) if loader.sampler is not None else n_data
        raise ValueError(
            f'{what} has {n_data} samples ({per_rank} per process with {get_world_size()} '
            f'process(es)), fewer than batch_size={loader.batch_size} with drop_last=True: every '
            'epoch would have 0 iterations and training would silently do nothing. Lower '
            'batch_size or use more data.')
