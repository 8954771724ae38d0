"""fp32 islands inside an autocast region.

Autocast runs matrix products in fp16 / bf16 even on fp32 inputs, and CPU autocast also leaves
``softmax`` / ``log_softmax`` / ``normalize`` in the low precision (CUDA autocast promotes those
to fp32). Cosines divided by a temperature, softmaxes over many entries and Sinkhorn sums need
fp32: the pattern of :class:`~densepre.models.losses.ContextRankingLoss` (autocast off, inputs
promoted to fp32), as a function.
"""
from typing import Callable

import torch

__all__ = ['in_fp32']


def _promote(x):
    if isinstance(x, torch.Tensor) and x.is_floating_point():
        return x.to(torch.promote_types(x.dtype, torch.float32))
    return x


def in_fp32(fn: Callable, *args, **kwargs):
    """``fn(*args, **kwargs)`` with autocast off and floating-point tensor arguments promoted to
    fp32 (fp64 stays fp64); gradients flow back to the low-precision inputs."""
    device = next((a.device.type for a in list(args) + list(kwargs.values())
                   if isinstance(a, torch.Tensor)), 'cpu')
    with torch.autocast(device, enabled=False):
        return fn(*[_promote(a) for a in args], **{k: _promote(v) for k, v in kwargs.items()})
