"""LOCA's reference masking m(Z_ref, η) (Sec. 3, "Masking reference patch features"): after the
encoder, only ``N − ⌊η·N⌋`` reference tokens stay visible to the query's cross-attention —
a consecutive run of token indices (structured, the default: +0.8 mIoU) or a random subset."""
import math
from typing import Optional

import torch

MASKING_MODES = ('structured', 'unstructured')


def num_visible(num_tokens: int, mask_ratio: float) -> int:
    """``N − ⌊η·N⌋`` (paper: η = 0.8 of 196 leaves 40 visible; η = 1: none, Fig. 5)."""
    if not 0.0 <= mask_ratio <= 1.0:
        raise ValueError(f'mask_ratio η must be in [0, 1], got {mask_ratio}')
    return num_tokens - int(math.floor(mask_ratio * num_tokens + 1e-9))


def visible_token_indices(batch: int, num_tokens: int, num_keep: int, mode: str = 'structured',
                          device=None, generator: Optional[torch.Generator] = None
                          ) -> torch.Tensor:
    """Indices (B, num_keep) of the visible reference tokens of each sample, increasing.

    ``'structured'``: ``offset + arange(num_keep)`` with ``offset`` uniform in
    ``[0, N − num_keep]`` per sample; ``'unstructured'``: a uniformly random subset.
    """
    if mode not in MASKING_MODES:
        raise ValueError(f'reference masking must be one of {MASKING_MODES}, got {mode!r}')
    if not 0 <= num_keep <= num_tokens:
        raise ValueError(f'cannot keep {num_keep} of {num_tokens} reference tokens')
    if mode == 'structured':
        offset = torch.randint(0, num_tokens - num_keep + 1, (batch, 1), device=device,
                               generator=generator)
        return offset + torch.arange(num_keep, device=device)
    noise = torch.rand(batch, num_tokens, device=device, generator=generator)
    return noise.argsort(dim=1)[:, :num_keep].sort(dim=1).values


def gather_tokens(tokens: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``tokens`` (B, N, C) at ``index`` (B, n) -> (B, n, C)."""
    return tokens.gather(1, index[..., None].expand(-1, -1, tokens.shape[-1]))
