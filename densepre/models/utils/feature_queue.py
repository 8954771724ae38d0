"""A FIFO queue of features with aligned side-queues and nearest-neighbour lookup.

One module for every queue densepre needs: MoCo's negative keys (MoCo Sec. 3.1: "the dictionary
as a queue of data samples ... the current mini-batch is enqueued and the oldest is dequeued"),
kNN-MoCo's backbone features stored next to the keys (Revisiting-Contrastive Sec. 4), CLoVE's
inter-image negatives. Everything it holds is a buffer, so a checkpoint restores contents and
pointer exactly.
"""
from typing import Dict, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.dist import all_gather, get_world_size

from densepre.registry import MODELS
from .host_int import host_int, set_host_int

__all__ = ['FeatureQueue']


@MODELS.register_module()
class FeatureQueue(nn.Module):
    """The ``length`` most recent feature vectors of the global batch.

    Features are stored as the *columns* of a ``(dim, length)`` buffer ``queue`` (MoCo's layout,
    so ``q @ queue`` gives the logits against every entry). Side-queues ``side_<name>`` of shape
    ``(side_dim, length)`` are written at the same columns in the same call, so column ``j`` of
    every queue describes the same sample.

    Args:
        length (int): number of entries K (MoCo: 65536).
        dim (int): feature size of the main queue.
        side_queues (dict[str, int], optional): name -> feature size of aligned side-queues,
            e.g. ``dict(backbone=2048)`` for kNN-MoCo's GAP backbone features.
        init (Tensor, optional): initial ``(dim, length)`` contents of the main queue; default
            random unit vectors (MoCo). Side-queues start at zero and count as empty.
        gather (bool): enqueue the features of every process (``all_gather``), so each rank holds
            the same queue. Defaults to True.
    """

    def __init__(self, length: int, dim: int, side_queues: Optional[Dict[str, int]] = None,
                 init: Optional[torch.Tensor] = None, gather: bool = True) -> None:
        super().__init__()
        if int(length) < 1 or int(dim) < 1:
            raise ValueError(f'FeatureQueue needs length >= 1 and dim >= 1, got {length}, {dim}')
        self.length, self.dim, self.gather = int(length), int(dim), gather
        if init is None:
            init = F.normalize(torch.randn(self.dim, self.length), dim=0)
        if tuple(init.shape) != (self.dim, self.length):
            raise ValueError(f'FeatureQueue init must be (dim, length) = ({dim}, {length}), got '
                             f'{tuple(init.shape)}')
        self.register_buffer('queue', init.detach().clone())
        self.side_names = tuple(side_queues or {})
        for name, side_dim in (side_queues or {}).items():
            self.register_buffer(f'side_{name}', torch.zeros(int(side_dim), self.length))
        self.register_buffer('ptr', torch.zeros(1, dtype=torch.long))
        self.register_buffer('filled', torch.zeros(1, dtype=torch.long))

    def side(self, name: str) -> torch.Tensor:
        """The ``(side_dim, length)`` side-queue ``name``."""
        if name not in self.side_names:
            raise KeyError(f'FeatureQueue has no side-queue {name!r}; it has {self.side_names}')
        return getattr(self, f'side_{name}')

    def check_batch(self, global_batch: int, world_size: int = 1) -> None:
        """Raise unless ``global_batch`` entries can be enqueued without splitting a batch."""
        if self.length % global_batch:
            raise ValueError(
                f'FeatureQueue length (queue_len={self.length}) must be a multiple of the '
                f'number of features enqueued per step ({global_batch} = {world_size} '
                f'process(es) x {global_batch // max(world_size, 1)} per process); change '
                'queue_len or the batch size')

    @torch.no_grad()
    def enqueue(self, feats: torch.Tensor, **side: torch.Tensor) -> None:
        """Replace the oldest entries with ``feats`` (N, dim) of every process and, at the same
        columns, the side-queues with ``side[name]`` (N, side_dim)."""
        if set(side) != set(self.side_names):
            raise KeyError(f'FeatureQueue.enqueue needs exactly the side-queues '
                           f'{self.side_names}, got {tuple(side)}')
        world = get_world_size() if self.gather else 1
        if world > 1:
            feats = torch.cat(all_gather(feats.contiguous()), dim=0)
            side = {k: torch.cat(all_gather(v.contiguous()), dim=0) for k, v in side.items()}
        n = feats.shape[0]
        self.check_batch(n, world)
        ptr = host_int(self.ptr)  # no device read per step (the queue writes ptr itself)
        self.queue[:, ptr:ptr + n] = feats.t().to(self.queue.dtype)
        for name, value in side.items():
            if value.shape[0] != n:
                raise ValueError(f'side-queue {name!r} got {value.shape[0]} rows for {n} features')
            buf = self.side(name)
            buf[:, ptr:ptr + n] = value.t().to(buf.dtype)
        set_host_int(self.ptr, (ptr + n) % self.length)
        set_host_int(self.filled, min(self.length, host_int(self.filled) + n))

    @torch.no_grad()
    def knn(self, query: torch.Tensor, k: int,
            side: Optional[str] = None) -> Tuple[torch.Tensor, torch.Tensor]:
        """The ``k`` entries with the largest dot product with each query (use L2-normalised
        features for cosine similarity): one matmul and one ``topk``.

        Args:
            query: (N, d) features, ``d`` the size of the searched queue.
            k: number of neighbours.
            side: search this side-queue instead of the main queue (kNN-MoCo searches the
                backbone features and reads the keys at the same columns).

        Returns:
            ``(similarities (N, k), column indices (N, k))``, most similar first. Only filled
            entries are searched (side-queues start empty).
        """
        bank = self.queue if side is None else self.side(side)
        searchable = self.length if side is None else host_int(self.filled)
        if not 0 < k <= searchable:
            raise ValueError(f'knn: k={k} but the queue holds {searchable} searchable entries')
        sim = query.to(bank.dtype) @ bank[:, :searchable]
        return sim.topk(k, dim=1)

    def extra_repr(self) -> str:
        return f'length={self.length}, dim={self.dim}, side_queues={self.side_names}'
