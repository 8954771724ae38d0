"""Named view groups of a multi-view batch, and multi-crop batching (one backbone pass per size).

``GeoMultiView`` names its view groups (``'global'``, ``'local'``, ``'query'``, ``'reference'``
...) and packs the name of every view under the data-sample key :data:`VIEW_GROUPS_KEY`;
:class:`MultiViewBatch` lets an algorithm address the views by group instead of by list position,
and :func:`forward_views` runs a network once per distinct view size on the concatenation of the
views of that size, as DINO / SwAV multi-crop does (``2×224 + 6×96`` = two passes, not eight).

Concatenating views changes what batch-statistics layers see (BN normalises over the views of one
size together); that is the multi-crop convention and the reason :func:`forward_views` is a choice
of the algorithm, not a hidden optimisation.
"""
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch

from .correspondence import FLAG_FALLBACK, GEOMETRY_KEY, has_flag, stack_geometries

#: data-sample field holding the group name of each view (written by GeoMultiView).
VIEW_GROUPS_KEY = 'view_groups'

__all__ = [
    'VIEW_GROUPS_KEY', 'MultiViewBatch', 'forward_views', 'split_outputs', 'ViewPairs',
    'count_fallback_crops'
]


def count_fallback_crops(data_samples: Optional[Sequence], device=None) -> torch.Tensor:
    """Number of constrained crops of a batch that fell back unconstrained (0 without recorded
    geometry), as a float tensor for the loss dict, so it is logged every iteration."""
    if not data_samples or getattr(data_samples[0], GEOMETRY_KEY, None) is None:
        return torch.zeros((), device=device)
    return has_flag(stack_geometries(data_samples), FLAG_FALLBACK).sum().float().to(device)


class ViewPairs:
    """The (query, key) view pairs of a loss, declared in the config by group names.

    ``dict(keys=['global'], queries=['global', 'local'])`` pairs every view of the ``keys``
    groups with every *other* view of the ``queries`` groups (multi-crop: small crops are queries
    only, so they are never keys — never encoded by a key / target network, never enqueued).

    Args:
        keys (list[str]): groups whose views are keys / targets.
        queries (list[str]): groups whose views are queries / online predictions.
    """

    def __init__(self, keys: Sequence[str], queries: Sequence[str]) -> None:
        keys = [keys] if isinstance(keys, str) else list(keys)
        queries = [queries] if isinstance(queries, str) else list(queries)
        if not keys or not queries or not all(isinstance(g, str) for g in keys + queries):
            raise ValueError(f'view_pairs needs non-empty lists of group names, got '
                             f'keys={keys}, queries={queries}')
        self.keys, self.queries = tuple(keys), tuple(queries)

    @classmethod
    def build(cls, spec) -> Optional['ViewPairs']:
        if spec is None or isinstance(spec, ViewPairs):
            return spec
        unknown = set(spec) - {'keys', 'queries'}
        if unknown:
            raise KeyError(f'view_pairs has unknown keys {sorted(unknown)}; expected '
                           "dict(keys=[group names], queries=[group names])")
        return cls(spec['keys'], spec['queries'])

    def resolve(self, views: 'MultiViewBatch') -> Tuple[List[int], List[int], List[tuple]]:
        """``(query view indices, key view indices, [(query, key), ...])`` of a batch."""
        key_idx, query_idx = views.indices(*self.keys), views.indices(*self.queries)
        pairs = [(q, k) for k in key_idx for q in query_idx if q != k]
        if not pairs:
            raise ValueError(f'view_pairs {self} gives no pair of distinct views for the view '
                             f'groups {views.groups}')
        return query_idx, key_idx, pairs

    def __repr__(self) -> str:
        return f'ViewPairs(keys={list(self.keys)}, queries={list(self.queries)})'


def split_outputs(out, sizes: Sequence[int]) -> list:
    """Split a network output computed on concatenated views back into one output per view.

    ``out`` is a tensor, ``None`` or a (nested) tuple / list of them, batch first; ``sizes`` are
    the batch sizes of the concatenated views.
    """
    if out is None:
        return [None] * len(sizes)
    if isinstance(out, torch.Tensor):
        return list(torch.split(out, list(sizes)))
    parts = [split_outputs(o, sizes) for o in out]
    return [type(out)(p[i] for p in parts) for i in range(len(sizes))]


def forward_views(fn: Callable, views: Sequence[torch.Tensor]) -> list:
    """``[fn(v) for v in views]`` with one call of ``fn`` per distinct view shape.

    Views of equal shape are concatenated along the batch (in view order), ``fn`` runs once on
    each concatenation and its outputs are split back, so the result is in ``views`` order.
    """
    by_shape: Dict[Tuple[int, ...], List[int]] = {}
    for i, v in enumerate(views):
        by_shape.setdefault(tuple(v.shape[1:]), []).append(i)
    outputs: List = [None] * len(views)
    for idx in by_shape.values():
        batch = views[idx[0]] if len(idx) == 1 else torch.cat([views[i] for i in idx])
        for i, o in zip(idx, split_outputs(fn(batch), [views[i].shape[0] for i in idx])):
            outputs[i] = o
    return outputs


class MultiViewBatch:
    """The V views of a batch (``inputs``: V tensors (B, C, H, W)) addressed by group name.

    Args:
        inputs: the views, in the order GeoMultiView wrote them.
        data_samples: the batch's data samples; their ``view_groups`` field names the group of
            every view (the same for every sample).
        default_groups: group names to assume when the samples carry none (e.g. a pipeline
            written for a two-view algorithm); ``None`` makes a missing field an error.
    """

    def __init__(self, inputs: Sequence[torch.Tensor], data_samples: Optional[Sequence],
                 default_groups: Optional[Sequence[str]] = None) -> None:
        self.inputs = list(inputs)
        self.data_samples = data_samples
        names = [getattr(ds, VIEW_GROUPS_KEY, None) for ds in (data_samples or [])]
        if not names or names[0] is None:
            if default_groups is None:
                raise KeyError(
                    f'data samples carry no `{VIEW_GROUPS_KEY}`: name the GeoMultiView groups and '
                    f"pack them with PackInputs(algorithm_keys=['{GEOMETRY_KEY}', "
                    f"'{VIEW_GROUPS_KEY}'])")
            names = [tuple(default_groups)]
        self.groups: Tuple[str, ...] = tuple(names[0])
        if any(tuple(n) != self.groups for n in names[1:]):
            raise ValueError('the samples of one batch have different view groups')
        if len(self.groups) != len(self.inputs):
            raise ValueError(f'{len(self.inputs)} input views but {len(self.groups)} view group '
                             f'names {self.groups}')

    @property
    def group_names(self) -> Tuple[str, ...]:
        """Distinct group names in order of first appearance."""
        return tuple(dict.fromkeys(self.groups))

    def indices(self, *groups: str) -> List[int]:
        """View indices of the given groups, in view order; unknown names are an error."""
        unknown = [g for g in groups if g not in self.groups]
        if unknown:
            raise KeyError(f'no view group {unknown} in this batch; it has {self.group_names}')
        return [i for i, g in enumerate(self.groups) if g in groups]

    def views(self, *groups: str) -> List[torch.Tensor]:
        return [self.inputs[i] for i in self.indices(*groups)]

    def concatenated(self, *groups: str) -> List[Tuple[List[int], torch.Tensor]]:
        """The views of ``groups`` as one (k·B, C, H, W) tensor per distinct size, with the view
        indices it holds: the inputs of one backbone pass each."""
        by_shape: Dict[Tuple[int, ...], List[int]] = {}
        for i in self.indices(*groups):
            by_shape.setdefault(tuple(self.inputs[i].shape[1:]), []).append(i)
        return [(idx, torch.cat([self.inputs[i] for i in idx])) for idx in by_shape.values()]

    def forward(self, fn: Callable, *groups: str) -> Dict[int, object]:
        """``{view index: fn(view)}`` for the views of ``groups``, one ``fn`` call per size."""
        idx = self.indices(*groups)
        return dict(zip(idx, forward_views(fn, [self.inputs[i] for i in idx])))

    def num_fallback_crops(self) -> torch.Tensor:
        """See :func:`count_fallback_crops`."""
        return count_fallback_crops(self.data_samples, self.inputs[0].device)
