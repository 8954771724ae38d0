"""In-batch InfoNCE for LEWEL_M's aligned embeddings (LEWEL Eq. 4, Sec. 3.3)."""
from typing import Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.dist import all_gather, get_rank, get_world_size

from densepre.registry import MODELS
from ..utils.precision import in_fp32


def gather_with_local_grad(x: torch.Tensor) -> torch.Tensor:
    """Concatenate ``x`` from all processes along dim 0, keeping the autograd graph of the local
    slice (``all_gather`` returns detached copies; the local one is put back), so a rank's own
    embeddings still receive gradient. Single process: ``x`` itself."""
    if get_world_size() == 1:
        return x
    parts = list(all_gather(x.detach()))
    parts[get_rank()] = x
    return torch.cat(parts, dim=0)


@MODELS.register_module()
class BatchInfoNCELoss(nn.Module):
    """InfoNCE with the other images of the (global) batch as negatives, per aligned embedding.

    For aligned embedding ``k`` of image ``n`` (LEWEL Eq. 4)::

        ℓ(q_{n,k}, k⁺_{n,k}) = −log  exp(sim(q_{n,k}, k_{n,k})/τ)
                                   / Σ_{m ∈ global batch} exp(sim(q_{n,k}, k_{m,k})/τ)

    i.e. the negatives of ``q_{n,k}`` are the same-index aligned embeddings ``k_{m,k}`` of the
    other images ``m ≠ n`` of the mini-batch, gathered from every process ("consists of
    embeddings of different images in the current mini-batch", Sec. 3.3). The result is the mean
    over ``k`` and ``n``: ``L_a = (h/d) Σ_k ℓ_k`` (Sec. 3.2) averaged over the batch.

    Args:
        temperature (float): τ. Defaults to 0.2 (LEWEL_M).
    """

    def __init__(self, temperature: float = 0.2) -> None:
        super().__init__()
        self.temperature = temperature

    def logits_and_labels(self, query: torch.Tensor,
                          key: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Logits ``(K, N, W·N)`` (already divided by τ) and labels ``(K, N)``.

        Args:
            query (Tensor): ``(N, K, c)`` online aligned embeddings of this process.
            key (Tensor): ``(N, K, c)`` positives (same images, other view) of this process.
        """
        if query.shape != key.shape or query.dim() != 3:
            raise ValueError(f'expected query and key of equal shape (N, K, c), got '
                             f'{tuple(query.shape)} and {tuple(key.shape)}')
        n, k = query.shape[:2]
        q = F.normalize(query, dim=-1)
        keys = gather_with_local_grad(F.normalize(key, dim=-1))  # (W·N, K, c)
        logits = torch.einsum('nkc,mkc->knm', q, keys) / self.temperature
        labels = torch.arange(n, device=query.device) + get_rank() * n
        return logits, labels.expand(k, n)

    def forward(self, query: torch.Tensor, key: torch.Tensor) -> torch.Tensor:
        """Mean loss; normalisation, cosines / τ and the softmax in fp32 under AMP."""
        return in_fp32(self._forward, query, key)

    def _forward(self, query: torch.Tensor, key: torch.Tensor) -> torch.Tensor:
        logits, labels = self.logits_and_labels(query, key)
        return F.cross_entropy(logits.flatten(0, 1), labels.flatten())
