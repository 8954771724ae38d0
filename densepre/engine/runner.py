"""densepre's Runner: MMEngine's Runner plus what long pretraining jobs need to survive.

* Checkpoints are written atomically (to ``<name>.part``, then renamed), so a kill during a save
  leaves the previous checkpoint and the ``last_checkpoint`` pointer intact.
* Checkpoints record the RNG states and the world size; ``--resume`` restores the RNG states (so a
  resumed single-process CPU run reproduces the uninterrupted losses) and refuses to resume with a
  different world size unless ``resume_allow_world_size_change=True`` (the global batch, the LR and
  MoCo's queue arithmetic would silently change).
* Distributed runs on CPU (gloo): the process group is created without touching CUDA, SyncBN is
  reverted to BN (SyncBN is GPU-only) and DDP wraps the model without ``device_ids``.
* Single-process runs of SyncBN configs revert SyncBN to BN with one warning; AMP configs run
  fp16 on GPUs, bf16 autocast on CPUs with bf16 instructions and fp32 (one warning) on other
  CPUs (densepre/engine/amp.py). ``channels_last = True`` in a config makes the model and the
  data preprocessor's output channels-last (densepre/engine/channels_last.py).
* Resuming loads our own (trusted) checkpoints with full unpickling, which torch >= 2.6 refuses by
  default; a truncated or corrupt file gives an error naming it.
"""
import contextlib
import logging
import os
import os.path as osp
import random
from typing import Optional

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


def _has_sync_bn(model: torch.nn.Module) -> bool:
    return any(isinstance(m, torch.nn.SyncBatchNorm) or 'SyncBatchNorm' in type(m).__name__
               for m in model.modules())


@contextlib.contextmanager
def trusted_torch_load():
    """Let ``torch.load`` unpickle a checkpoint densepre wrote itself (it contains MMEngine and
    numpy objects, which torch >= 2.6's ``weights_only`` default rejects). Only used for resuming
    from a work dir; pretrained weights given to transfer configs are loaded weights-only."""
    old = os.environ.get('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD')
    os.environ['TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD'] = '1'
    try:
        yield
    finally:
        if old is None:
            os.environ.pop('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', None)
        else:
            os.environ['TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD'] = old


def get_rng_state() -> dict:
    state = dict(
        python=random.getstate(), numpy=np.random.get_state(), torch=torch.get_rng_state())
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state['cuda'] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    random.setstate(state['python'])
    np.random.set_state(state['numpy'])
    torch.set_rng_state(state['torch'])
    if 'cuda' in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state['cuda'])


@RUNNERS.register_module()
class DenseRunner(Runner):
    """MMEngine ``Runner`` with atomic checkpoints, exact resume and CPU-distributed support.

    Config keys it reads besides MMEngine's: ``resume_allow_world_size_change`` (bool).
    """

    def setup_env(self, env_cfg: dict) -> None:
        # MMEngine's init_dist calls torch.cuda.set_device(LOCAL_RANK), which fails on a CPU-only
        # machine: create the gloo process group ourselves from torchrun's env:// variables.
        if self._launcher != 'none' and not torch.cuda.is_available() and not is_distributed():
            backend = env_cfg.get('dist_cfg', {}).get('backend', 'gloo')
            if backend != 'gloo':
                print_log(f'no CUDA device: using the gloo backend instead of {backend!r}',
                          logger='current', level=logging.WARNING)
            torch_dist.init_process_group(backend='gloo')
        super().setup_env(env_cfg)

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

    @master_only
    def save_checkpoint(self, out_dir: str, filename: str, *args, meta: Optional[dict] = None,
                        **kwargs) -> None:
        meta = dict(meta or {})
        meta.update(rng_state=get_rng_state(), world_size=get_world_size())
        partial = filename + '.part'
        super().save_checkpoint(out_dir, partial, *args, meta=meta, **kwargs)
        src, dst = osp.join(out_dir, partial), osp.join(out_dir, filename)
        if osp.exists(src):  # local file systems; remote backends write whole objects anyway
            os.replace(src, dst)

    def load_checkpoint(self, filename: str, *args, **kwargs):
        trusted = getattr(self, '_resuming', False)
        try:
            with trusted_torch_load() if trusted else contextlib.nullcontext():
                checkpoint = super().load_checkpoint(filename, *args, **kwargs)
        except FileNotFoundError:
            raise
        except Exception as e:  # noqa: BLE001 - re-raised with the file named
            raise RuntimeError(f'cannot load checkpoint {filename}: {type(e).__name__}: {e}. '
                               'The file may be truncated or corrupt (e.g. a killed copy); '
                               'densepre writes checkpoints atomically, so the previous one in '
                               'the work dir is intact.') from e
        if trusted:
            self._check_world_size(checkpoint.get('meta', {}), filename)
            self._resumed_rng_state = checkpoint.get('meta', {}).get('rng_state')
        return checkpoint

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
        if self._resumed_rng_state is not None:
            set_rng_state(self._resumed_rng_state)
