"""Per-sample augmentation seeds, so a resumed run draws the same crops as an uninterrupted one.

PyTorch seeds each data-loader worker once, when it starts. With ``persistent_workers=True`` (the
shipped configs) a worker's random state then runs on across epochs, and a resumed run's fresh
workers restart it: every augmentation after a resume differs. :class:`SeededIndexSampler` wraps
the configured sampler and tags each index with a seed derived from (seed, epoch, global position
of the sample in the epoch), the global position being ``position_in_rank * world_size + rank``
-- which fixes the iteration, the rank and, through the loader's round-robin, the worker. The
dataset (:class:`~densepre.datasets.ImageList`) seeds ``random``, ``numpy`` and ``torch`` with it before
running the pipeline (:func:`seeded_rng`). The augmentations of a sample are therefore the same
with 0 or N workers, persistent or not, and after any resume. (MMEngine's samplers deal sample
``p`` of the epoch to rank ``p % world_size``, so a sample's seed does not depend on the world
size either.)
"""
import contextlib
import hashlib
import random
from typing import Iterator, Optional

import numpy as np
import torch
from mmengine.dist import get_rank, get_world_size, sync_random_seed
from torch.utils.data import Sampler


class SeededIndex(int):
    """A dataset index that carries the seed of the sample's augmentations."""

    def __new__(cls, index: int, seed: int):
        obj = super().__new__(cls, index)
        obj.seed = seed
        return obj

    def __reduce__(self):  # keep the seed through the worker queues
        return SeededIndex, (int(self), self.seed)


def sample_seed(seed: int, epoch: int, position: int) -> int:
    key = f'{seed},{epoch},{position}'.encode()
    return int.from_bytes(hashlib.blake2b(key, digest_size=4).digest(), 'little')


class SeededIndexSampler(Sampler):
    """Wrap a sampler config (``DefaultSampler``, ``InfiniteSampler`` ...) and yield
    :class:`SeededIndex` es. ``len``, ``set_epoch`` and the order are the wrapped sampler's."""

    def __init__(self, dataset, sampler: dict, seed: Optional[int] = None) -> None:
        from mmengine.registry import DATA_SAMPLERS
        self.sampler = DATA_SAMPLERS.build(sampler, default_args=dict(dataset=dataset, seed=seed))
        inner_seed = getattr(self.sampler, 'seed', None)
        self.seed = inner_seed if inner_seed is not None else (
            seed if seed is not None else sync_random_seed())
        self.rank = getattr(self.sampler, 'rank', get_rank())
        self.world_size = getattr(self.sampler, 'world_size', get_world_size())
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        if hasattr(self.sampler, 'set_epoch'):
            self.sampler.set_epoch(epoch)

    def __iter__(self) -> Iterator[SeededIndex]:
        epoch, rank, world = self.epoch, self.rank, self.world_size
        for position, index in enumerate(self.sampler):
            yield SeededIndex(index, sample_seed(self.seed, epoch, position * world + rank))

    def __len__(self) -> int:
        return len(self.sampler)

    def __getattr__(self, name):  # shuffle, ... of the wrapped sampler
        if name == 'sampler':
            raise AttributeError(name)
        return getattr(self.sampler, name)


@contextlib.contextmanager
def seeded_rng(seed: Optional[int]):
    """Seed ``random``, ``numpy`` and ``torch`` (CPU) with ``seed`` inside the block and restore
    their states after it (so a dataset read in the main process leaves the training RNG alone).
    ``seed=None``: no change."""
    if seed is None:
        yield
        return
    states = random.getstate(), np.random.get_state(), torch.get_rng_state()
    random.seed(seed)
    np.random.seed(seed)
    torch.random.default_generator.manual_seed(seed)  # CPU only: CUDA streams stay as they are
    try:
        yield
    finally:
        random.setstate(states[0])
        np.random.set_state(states[1])
        torch.set_rng_state(states[2])
