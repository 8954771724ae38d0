"""The initialisers of LOCA's released JAX / flax code (scenic ``projects/loca``), for the
``init_mode='release'`` option of :class:`~densepre.models.backbones.LOCAViT` and the LOCA heads.

flax conventions transcribed here (torch weights are ``(out, in)``):

* ``lecun_normal`` (flax's ``Dense`` / ``Conv`` default): ``variance_scaling(1, 'fan_in',
  'truncated_normal')`` — a normal truncated at ±2 standard deviations whose standard deviation
  is divided by 0.8796 (the std of a unit normal truncated there), so the variance is exactly
  ``1 / fan_in``.
* ``xavier_uniform`` of an attention projection: flax's ``DenseGeneral`` initialises its kernel
  ``(d, heads, head_dim)`` flattened to ``(d, d)``, so each of q, k, v is a ``(d, d)`` Xavier
  matrix, ``U(±sqrt(6 / (d + d)))`` — not torch's Xavier of the stacked ``(3d, d)`` in-projection.
"""
import math

import torch
import torch.nn as nn

#: std of a unit normal truncated to [-2, 2] (flax / jax ``variance_scaling`` correction)
TRUNCATED_NORMAL_STD = 0.87962566103423978


@torch.no_grad()
def lecun_normal_(weight: torch.Tensor) -> torch.Tensor:
    """flax's ``lecun_normal`` on a torch ``Linear`` ``(out, in)`` or ``Conv`` ``(out, in, kh,
    kw)`` weight (fan_in = in · kh · kw): truncated normal with variance exactly 1/fan_in."""
    fan_in = weight[0].numel()
    std = fan_in**-0.5 / TRUNCATED_NORMAL_STD
    return nn.init.trunc_normal_(weight, std=std, a=-2 * std, b=2 * std)


@torch.no_grad()
def xavier_uniform_chunks_(weight: torch.Tensor, chunks: int = 1) -> torch.Tensor:
    """Xavier-uniform on each of ``chunks`` equal row blocks of a torch ``(out, in)`` weight
    (``chunks=3`` for a stacked q / k / v in-projection): one flax ``DenseGeneral`` per block."""
    if weight.shape[0] % chunks:
        raise ValueError(f'cannot split {tuple(weight.shape)} into {chunks} projections')
    fan_out, fan_in = weight.shape[0] // chunks, weight.shape[1]
    bound = math.sqrt(6. / (fan_in + fan_out))
    return weight.uniform_(-bound, bound)


def check_init_mode(init_mode: str, owner: str) -> str:
    if init_mode not in ('densepre', 'release'):
        raise ValueError(f"{owner}: init_mode must be 'densepre' or 'release' (the authors' flax "
                         f'initialisers), got {init_mode!r}')
    return init_mode


def check_gelu_approximate(approximate: str, owner: str) -> str:
    if approximate not in ('none', 'tanh'):
        raise ValueError(f"{owner}: gelu_approximate must be 'none' (exact GELU) or 'tanh' "
                         f"(flax's nn.gelu default, the authors' code), got {approximate!r}")
    return approximate
