"""Sinkhorn-Knopp balancing of soft cluster assignments over a distributed batch.

LOCA (Sec. 3, after SwAV / Asano et al.) turns the teacher's per-patch probabilities P (N, K) into
targets that use the K prototypes equally: each iteration divides every prototype column by its
total weight over the whole batch (all-reduced across ranks), then every row by its sum, so the
result's rows are distributions and its columns approach equal mass N/K.

mmpretrain's ``distributed_sinkhorn`` (SwAV) is not reused: it all-reduces the per-prototype sums
only in its zero-guard branch, so under DDP each rank balances its own batch only, and it starts
from ``exp(out / ε)`` where LOCA starts from a softmax (the first column normalisation sees
different weights).
"""
import torch
from mmengine.dist import all_reduce, get_world_size


@torch.no_grad()
def sinkhorn_knopp(probs: torch.Tensor, num_iterations: int = 3,
                   distributed: bool = True) -> torch.Tensor:
    """Balance ``probs`` (N, K), float32 computation.

    Each iteration: ``P /= P.sum(0)`` (summed over all ranks when ``distributed``), then
    ``P /= P.sum(1)``. Returns rows summing to 1.
    """
    q = probs.float().clone()
    reduce = distributed and get_world_size() > 1
    for _ in range(num_iterations):
        per_prototype = q.sum(0, keepdim=True)
        if reduce:
            all_reduce(per_prototype)
        q /= per_prototype
        q /= q.sum(1, keepdim=True)
    return q
