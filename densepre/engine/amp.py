"""Mixed precision on GPUs *and* CPUs: which autocast dtype to use, and the optimizer wrapper
that runs it.

Precision policy: each config runs the precision of the paper it reproduces, or of the authors'
release where the paper does not say. Not every paper trained with AMP: LEWEL did (Sec. 3.3:
PyTorch AMP on V100s; its released scripts pass ``--amp``: fp16 autocast + GradScaler), while
MoCo v2's and BYOL's papers say nothing and their releases train in fp32. A config that trained
with AMP asks for ``AmpOptimWrapper``, an fp32 one for the plain ``OptimWrapper``; the other
precision is an option (``tools/train.py --amp``, or ``--cfg-options optim_wrapper.dtype=float32``).
Each method's README states its configs' precision (section "Precision"); for MoCo v2, BYOL and
LEWEL tests/test_precision_policy.py reads that table and checks what every config resolves to.

MMEngine's ``AmpOptimWrapper`` asserts a CUDA/NPU/MLU device and always uses a ``GradScaler``.
``DenseRunner`` turns an ``AmpOptimWrapper`` request into :class:`DenseAmpOptimWrapper` through
:func:`amp_optim_wrapper_cfg`:

==========================  ==========================================================  ==========
device / requested dtype    what runs                                                   GradScaler
==========================  ==========================================================  ==========
CUDA, ``None``/float16      fp16 autocast (MMEngine's default)                          yes
CUDA, bfloat16              bf16 autocast (refused if the GPU has no bf16)              no
CPU with bf16 instructions  bf16 autocast (``torch.autocast('cpu')``): ~2x faster convs  no
  ``None``/bfloat16
CPU without them            fp32 ``OptimWrapper``, one warning (bf16 would be emulated
                            and slower than fp32)
CPU, float16 (explicit)     fp16 autocast + CPU GradScaler, one warning: a CPU stand-in  yes
                            for the GPU path (oneDNN has no fast CPU fp16: ~20x slower)
any, float32 (explicit)     fp32 ``OptimWrapper``: AMP switched off in the config
==========================  ==========================================================  ==========

bf16 has fp32's exponent range, so its gradients do not underflow and loss scaling is neither
needed nor wanted. On CPU bf16 the wrapper also runs the few strided convolutions whose bf16
weight gradient oneDNN computes wrongly in fp32 (:mod:`densepre.engine.cpu_bf16_conv`). "bf16 instructions" = ``avx512_bf16`` or ``amx_bf16`` (x86) / ``bf16``
(Arm) in /proc/cpuinfo; ``DENSEPRE_CPU_BF16=0`` (or ``1``) overrides the detection.
"""
import logging
import os
from contextlib import contextmanager
from typing import Optional, Set, Union

import torch
import torch.nn as nn
from mmengine.logging import print_log
from mmengine.optim import OptimWrapper

from densepre.registry import OPTIM_WRAPPERS
from .cpu_bf16_conv import guard_cpu_bf16_convs

AMP_DTYPES = ('float16', 'bfloat16')
AMP_WRAPPERS = ('AmpOptimWrapper', 'mmengine.AmpOptimWrapper', 'DenseAmpOptimWrapper',
                'densepre.DenseAmpOptimWrapper')
FP32_WRAPPERS = ('OptimWrapper', 'mmengine.OptimWrapper')
CPU_BF16_FLAGS = ('avx512_bf16', 'amx_bf16', 'bf16')
CPU_BF16_ENV = 'DENSEPRE_CPU_BF16'


def _cpu_flags() -> Set[str]:
    """The CPU feature flags of /proc/cpuinfo (x86 ``flags``, Arm ``Features``); empty elsewhere."""
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                key, _, value = line.partition(':')
                if key.strip() in ('flags', 'Features'):
                    return set(value.split())
    except OSError:
        pass
    return set()


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bf16 natively (so bf16 autocast is faster than fp32).

    ``DENSEPRE_CPU_BF16=1`` / ``0`` in the environment overrides the detection."""
    env = os.environ.get(CPU_BF16_ENV)
    if env is not None:
        if env not in ('0', '1'):
            raise ValueError(f'{CPU_BF16_ENV}={env!r}: expected 0 or 1')
        return env == '1'
    return bool(_cpu_flags() & set(CPU_BF16_FLAGS))


def parse_amp_dtype(dtype: Union[None, str, torch.dtype], where: str = 'dtype',
                    allow_fp32: bool = False) -> Optional[torch.dtype]:
    """``None`` / ``'float16'`` / ``'bfloat16'`` (``'float32'`` = AMP off, if allowed), or the
    torch dtypes -> torch dtype or None."""
    allowed = AMP_DTYPES + (('float32', ) if allow_fp32 else ())
    if isinstance(dtype, torch.dtype):
        dtype = str(dtype).replace('torch.', '')
    if dtype is None:
        return None
    if isinstance(dtype, str) and dtype in allowed:
        return getattr(torch, dtype)
    raise ValueError(f'{where}: AMP dtype must be one of {allowed} (or unset for the '
                     f"device's default), got {dtype!r}")


def default_device_type() -> str:
    return 'cuda' if torch.cuda.is_available() else 'cpu'


def amp_optim_wrapper_cfg(optim_wrapper: dict, device_type: Optional[str] = None,
                          logger: Optional[logging.Logger] = None) -> dict:
    """Turn an ``AmpOptimWrapper`` config into what runs on this device (see the module doc):
    a :class:`DenseAmpOptimWrapper` config with the resolved ``dtype``, or an fp32
    ``OptimWrapper`` config (with one warning) on a CPU without bf16. A plain ``OptimWrapper``
    (an fp32 config) accepts ``dtype='float32'`` (dropped), so ``optim_wrapper.dtype=float32``
    means fp32 whatever the config's precision; another dtype there is refused (AMP is
    ``type='AmpOptimWrapper'``, ``tools/train.py --amp``). Other configs unchanged."""
    if (isinstance(optim_wrapper, dict) and optim_wrapper.get('type') in FP32_WRAPPERS
            and 'dtype' in optim_wrapper):
        if parse_amp_dtype(optim_wrapper['dtype'], 'optim_wrapper.dtype',
                           allow_fp32=True) != torch.float32:
            raise ValueError(f"optim_wrapper.dtype={optim_wrapper['dtype']!r} with type "
                             f"{optim_wrapper['type']!r} (fp32): AMP needs "
                             "optim_wrapper.type='AmpOptimWrapper' (tools/train.py --amp)")
        return {k: v for k, v in optim_wrapper.items() if k != 'dtype'}
    if not isinstance(optim_wrapper, dict) or not (
            optim_wrapper.get('type') in AMP_WRAPPERS
            or optim_wrapper.get('type') is DenseAmpOptimWrapper):
        return optim_wrapper
    device_type = device_type or default_device_type()
    cfg = dict(optim_wrapper)
    dtype = parse_amp_dtype(cfg.get('dtype'), 'optim_wrapper.dtype', allow_fp32=True)

    def warn(msg):
        print_log(msg, logger=logger or 'current', level=logging.WARNING)

    def fp32():
        out = {k: v for k, v in cfg.items() if k not in ('loss_scale', 'dtype', 'use_fsdp')}
        out['type'] = 'OptimWrapper'
        return out

    if dtype == torch.float32:
        print_log('AMP off (optim_wrapper.dtype=float32): fp32 OptimWrapper',
                  logger=logger or 'current', level=logging.INFO)
        return fp32()
    if device_type == 'cpu':
        if dtype == torch.float16:
            warn('AMP dtype float16 on CPU: fp16 autocast with a CPU GradScaler runs, but oneDNN '
                 'has no fast CPU fp16 (~20x slower than fp32) - a stand-in for the GPU path '
                 'only; use bfloat16 on CPUs')
        elif not cpu_has_bf16():
            warn('this CPU has no bf16 instructions (avx512_bf16 / amx_bf16): AmpOptimWrapper '
                 'falls back to the fp32 OptimWrapper')
            return fp32()
        else:
            dtype = torch.bfloat16
    elif device_type == 'cuda':
        if dtype is None:
            dtype = torch.float16
        elif dtype == torch.bfloat16 and not torch.cuda.is_bf16_supported():
            raise ValueError('optim_wrapper.dtype=bfloat16 but this GPU has no bf16 support: '
                             'use float16')
    elif dtype is None:
        dtype = torch.float16
    cfg['type'] = DenseAmpOptimWrapper  # the class: also builds in mmdet / mmseg scopes
    cfg['dtype'] = str(dtype).replace('torch.', '')
    cfg['device_type'] = device_type
    print_log(f"AMP: {cfg['dtype']} autocast on {device_type}"
              + (' with loss scaling' if dtype == torch.float16 else ' (no loss scaling)'),
              logger=logger or 'current', level=logging.INFO)
    return cfg


@OPTIM_WRAPPERS.register_module()
class DenseAmpOptimWrapper(OptimWrapper):
    """Automatic mixed precision on any device with ``torch.autocast``.

    Like MMEngine's ``AmpOptimWrapper`` (same arguments, same checkpoint layout) but

    * runs on CPU too (``torch.autocast('cpu')``);
    * uses a ``GradScaler`` only for float16: bf16 has fp32's exponent range, so the loss is not
      scaled (the wrapper is then a plain ``OptimWrapper`` inside an autocast region).

    Args:
        loss_scale (float | str | dict): GradScaler setting for float16 (``'dynamic'``, an initial
            scale, or GradScaler kwargs). Ignored for bfloat16.
        dtype (str | torch.dtype): ``'float16'`` or ``'bfloat16'``; ``None`` = float16 on CUDA,
            bfloat16 on CPU.
        device_type (str, optional): autocast device, default CUDA if available else CPU.
        use_fsdp (bool): ``ShardedGradScaler`` (FSDP) for float16.
    """

    def __init__(self,
                 loss_scale: Union[str, float, dict] = 'dynamic',
                 dtype: Union[None, str, torch.dtype] = None,
                 device_type: Optional[str] = None,
                 use_fsdp: bool = False,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.device_type = device_type or default_device_type()
        dtype = parse_amp_dtype(dtype)
        if dtype is None:
            dtype = torch.float16 if self.device_type == 'cuda' else torch.bfloat16
        self.cast_dtype = dtype
        self._scale_update_param = None
        self.loss_scaler = None
        if dtype != torch.float16:
            return
        if use_fsdp:
            from torch.distributed.fsdp.sharded_grad_scaler import ShardedGradScaler

            def scaler_type(**kw):
                return ShardedGradScaler(device=self.device_type, **kw)
        else:
            def scaler_type(**kw):
                return torch.amp.GradScaler(self.device_type, **kw)
        if loss_scale == 'dynamic':
            self.loss_scaler = scaler_type()
        elif isinstance(loss_scale, (int, float)) and not isinstance(loss_scale, bool):
            self._scale_update_param = float(loss_scale)
            self.loss_scaler = scaler_type(init_scale=float(loss_scale))
        elif isinstance(loss_scale, dict):
            self.loss_scaler = scaler_type(**loss_scale)
        else:
            raise TypeError(f'optim_wrapper.loss_scale must be "dynamic", a number or a dict, got '
                            f'{loss_scale!r}')

    def backward(self, loss: torch.Tensor, **kwargs) -> None:
        if self.loss_scaler is None:
            return super().backward(loss, **kwargs)
        self.loss_scaler.scale(loss).backward(**kwargs)
        self._inner_count += 1

    def step(self, **kwargs) -> None:
        if self.loss_scaler is None:
            return super().step(**kwargs)
        if self.clip_grad_kwargs:
            self.loss_scaler.unscale_(self.optimizer)
            self._clip_grad()
        self.loss_scaler.step(self.optimizer, **kwargs)
        self.loss_scaler.update(self._scale_update_param)

    def state_dict(self) -> dict:
        state_dict = super().state_dict()
        if self.loss_scaler is not None:
            state_dict['loss_scaler'] = self.loss_scaler.state_dict()
        return state_dict

    def load_state_dict(self, state_dict: dict) -> None:
        state_dict = dict(state_dict)
        scaler_state = state_dict.pop('loss_scaler', None)
        if self.loss_scaler is not None and scaler_state is not None:
            self.loss_scaler.load_state_dict(scaler_state)
        elif scaler_state is not None:
            print_log(f'resuming a float16 (loss-scaled) run in {self.cast_dtype}: the saved '
                      'loss scale is not used', logger='current', level=logging.WARNING)
        super().load_state_dict(state_dict)

    @contextmanager
    def optim_context(self, model: nn.Module):
        """MMEngine's context (no grad sync while accumulating) inside an autocast region
        (``cache_enabled=False`` as in MMEngine's ``AmpOptimWrapper``). On CPU bf16, the model's
        convolutions get the fp32 fallback of :func:`guard_cpu_bf16_convs` (once)."""
        if self.device_type == 'cpu' and self.cast_dtype == torch.bfloat16:
            guard_cpu_bf16_convs(model)
        with super().optim_context(model), torch.autocast(
                self.device_type, dtype=self.cast_dtype, cache_enabled=False):
            yield
