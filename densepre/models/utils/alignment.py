"""LEWEL spatial alignment: alignment maps and channel-grouped weighted pooling.

Notation of the LEWEL paper (Huang et al., CVPR 2022, "Learning Where to Learn in Cross-View
Self-Supervised Learning"): backbone feature ``F ∈ R^{D×H×W}``, per-pixel output of the coupled
projection head ``W̃ = g(F) ∈ R^{d×H×W}``, ``h`` channel groups, ``d/h`` aligned embeddings.

Everything here is vectorised over the batch, the maps, the groups and the pixels (one
``einsum`` = one batched matmul over ``(N·h)`` blocks of ``(d/h × HW) @ (HW × D/h)``); there is
no Python loop over any of them.
"""
from typing import Optional, Tuple

import torch
import torch.nn.functional as F

from .precision import in_fp32

__all__ = [
    'alignment_maps', 'aligned_pooling', 'uniform_maps', 'random_maps', 'map_index'
]


def alignment_maps(dense: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """Alignment maps from the per-pixel projection ``W̃ = g(F)`` (LEWEL Sec. 3.2).

    1. ``W̄_{*,i,j} = W̃_{*,i,j} / ‖W̃_{*,i,j}‖₂`` — L2 normalisation over the ``d`` channels,
       independently at each position ``(i, j)``;
    2. ``W_k = softmax(W̄_k / T)`` over all ``H·W`` positions, independently for each of the
       ``d`` maps, so that ``Σ_{i,j} W_{k,i,j} = 1`` and ``W_{k,i,j} ≥ 0`` (the constraints of
       Eq. 1).

    The paper's softmax has no temperature (``T = 1``, also the released code's value); ``T`` is
    exposed as an option.

    Args:
        dense (Tensor): ``(N, d, H, W)`` per-pixel projections.
        temperature (float): softmax temperature ``T``. Defaults to 1.

    Returns:
        Tensor: ``(N, d, H, W)`` alignment maps, each summing to 1 over ``(H, W)``.
    """
    n, d, h, w = dense.shape

    def maps(x):  # fp32 under AMP: a softmax over H·W positions of cosines
        return (F.normalize(x, dim=1).flatten(2) / temperature).softmax(dim=-1).view(n, d, h, w)

    return in_fp32(maps, dense)


def map_index(k: int, i: int, num_groups: int) -> int:
    """0-based index of the map that pools channel group ``i`` of aligned embedding ``k``.

    Eq. 2 / appendix Eq. 6 with 1-based ``k ∈ [1, d/h]``, ``i ∈ [1, h]``: map ``(k−1)·h + i``;
    with 0-based indices this is ``k·h + i``. Maps of one aligned embedding are consecutive.
    """
    return k * num_groups + i


def aligned_pooling(feat: torch.Tensor, maps: torch.Tensor, num_groups: int) -> torch.Tensor:
    """Channel-grouped weighted pooling, LEWEL Eq. 2 (= appendix Eq. 6) built on Eq. 1.

    The ``D`` backbone channels are split into ``h`` equal, consecutive groups
    ``F = [F^(1), …, F^(h)]`` and the ``d`` maps into ``d/h`` consecutive blocks of ``h``::

        y_k = [W_{(k−1)h+1} ⊗ F^(1), …, W_{kh} ⊗ F^(h)],   k = 1 … d/h,
        W ⊗ F = Σ_{i,j} W_{i,j} F_{*,i,j}                   (Eq. 1)

    so channel group ``i`` of aligned embedding ``k`` is pooled by map ``(k−1)·h + i`` (1-based)
    and ``y_k ∈ R^D``. With ``h = 1`` every map pools all channels (``d`` aligned embeddings);
    with uniform maps ``W = 1/(HW)`` every ``y_k`` is the GAP vector.

    Args:
        feat (Tensor): ``(N, D, H, W)`` backbone feature ``F``.
        maps (Tensor): ``(N, d, H, W)`` alignment maps (or ``(d, H, W)``: shared by the batch).
        num_groups (int): ``h``; must divide ``D`` and ``d``.

    Returns:
        Tensor: ``(N, d/h, D)`` aligned representations ``y_k``.
    """
    n, c, hh, ww = feat.shape
    d = maps.shape[-3]
    if c % num_groups or d % num_groups:
        raise ValueError(f'num_groups={num_groups} must divide the feature channels ({c}) and '
                         f'the number of alignment maps ({d})')
    if maps.shape[-2:] != (hh, ww):
        raise ValueError(f'maps {tuple(maps.shape)} and feature {tuple(feat.shape)} differ in '
                         'spatial size')
    k = d // num_groups
    f = feat.reshape(n, num_groups, c // num_groups, hh * ww)  # (N, h, D/h, HW)
    if maps.dim() == 3:  # shared maps: (d, H, W)
        m = maps.reshape(k, num_groups, hh * ww)
        y = torch.einsum('kis,nics->nkic', m.to(f.dtype), f)
    else:
        m = maps.reshape(n, k, num_groups, hh * ww)  # map index k*h + i -> (k, i)
        y = torch.einsum('nkis,nics->nkic', m.to(f.dtype), f)
    return y.reshape(n, k, c)  # group i occupies channels [i*D/h, (i+1)*D/h)


def uniform_maps(num_maps: int, size: Tuple[int, int], device=None,
                 dtype: Optional[torch.dtype] = None) -> torch.Tensor:
    """``(d, H, W)`` maps with ``W_{i,j} = 1/(HW)``: Eq. 1 then reduces to GAP."""
    h, w = size
    return torch.full((num_maps, h, w), 1.0 / (h * w), device=device,
                      dtype=dtype or torch.get_default_dtype())


def random_maps(num_maps: int, size: Tuple[int, int], temperature: float = 1.0, seed: int = 0,
                device=None, dtype: Optional[torch.dtype] = None) -> torch.Tensor:
    """``(d, H, W)`` fixed random alignment maps (the "w/ rand. W" row of LEWEL Table 6).

    Gaussian logits drawn from a generator seeded with ``seed`` (so the same maps come back
    after a resume) go through the same normalisation as learned maps (:func:`alignment_maps`),
    so they have the same range of spatial contrast as the learned maps at initialisation.
    """
    gen = torch.Generator().manual_seed(seed)
    logits = torch.randn(1, num_maps, *size, generator=gen)
    return alignment_maps(logits, temperature)[0].to(device=device,
                                                      dtype=dtype or torch.get_default_dtype())
