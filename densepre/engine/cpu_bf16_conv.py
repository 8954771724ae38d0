"""fp32 for the strided convolutions whose bf16 weight gradient oneDNN gets wrong on CPU.

Under CPU bf16 autocast, oneDNN's (PyTorch 2.14, oneDNN 3.12, ``avx512_bf16``) backward-weights
kernel for a strided convolution whose input is no wider than its stride returns garbage in the
kernel taps that only see padding: those must be exactly 0, but come back as leftover memory
(1e25-1e36, or inf). A ResNet's ``layer4.0.conv1`` (3x3, stride 2, padding 1) on a 1x1 map - a
16-px crop - is such a convolution, so multi-crop training with 16-px crops got a finite loss
and, a few SGD steps later, ``layer4.0.conv1`` weights of ~1e30 (tests/test_amp.py reproduces
both). fp32 and the input gradient are right. On a grid of input widths 1-6, kernels 1-5, strides
1-4 and every padding, every wrong case had kernel > 1, stride > 1 and input width <= stride
(``tests/test_amp.py::test_bf16_conv_guard_covers_every_wrong_geometry`` re-measures a grid).

:func:`guard_cpu_bf16_convs` makes every ``nn.Conv2d`` of a model that can meet that case run in
fp32 (autocast off, input cast to float32) exactly when it does - input no larger than the stride
in some spatial dimension (height too, to be safe), on CPU, under bf16 autocast, with a weight
gradient to compute. Such maps are tiny (the cost is negligible); every other convolution, the
teacher's (no gradient) and every GPU run are untouched. ``DenseAmpOptimWrapper`` applies it on
CPU bf16.
"""
import functools

import torch
import torch.nn as nn

_GUARDED = '_densepre_bf16_conv_guard'


def bf16_weight_grad_unsafe(conv: nn.Conv2d, x: torch.Tensor) -> bool:
    """Whether ``conv(x)``'s weight gradient can hit the oneDNN bf16 case (see module doc)."""
    return any(k > 1 and s > 1 and n <= s
               for n, k, s in zip(x.shape[-2:], conv.kernel_size, conv.stride))


def _needs_fp32(conv: nn.Conv2d, x: torch.Tensor) -> bool:
    return (x.device.type == 'cpu' and torch.is_autocast_enabled('cpu')
            and torch.get_autocast_dtype('cpu') == torch.bfloat16 and torch.is_grad_enabled()
            and conv.weight.requires_grad and bf16_weight_grad_unsafe(conv, x))


def _guarded_forward(self: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    if _needs_fp32(self, x):
        with torch.autocast('cpu', enabled=False):
            return type(self).forward(self, x.float())
    return type(self).forward(self, x)


def guard_cpu_bf16_convs(model: nn.Module) -> int:
    """Install the fp32 fallback on every strided ``nn.Conv2d`` with a kernel > 1 (once per
    module; ``deepcopy`` keeps it, bound to the copy). Returns the number of modules guarded now."""
    count = 0
    for m in model.modules():
        if (isinstance(m, nn.Conv2d) and not getattr(m, _GUARDED, False)
                and any(k > 1 and s > 1 for k, s in zip(m.kernel_size, m.stride))):
            m.forward = functools.partial(_guarded_forward, m)
            setattr(m, _GUARDED, True)
            count += 1
    return count


def is_guarded(conv: nn.Module) -> bool:
    return bool(getattr(conv, _GUARDED, False))
