"""Geometry-tracked multi-view augmentation.

:class:`GeoMultiView` runs one augmentation pipeline per view (like mmpretrain's ``MultiView``) and
records, for every view, its crop box in original-image coordinates, its horizontal flip and its
output size (see :mod:`densepre.datasets.geometry`). Views may be sampled *conditioned on another
view*: a view pipeline with ``overlap_with=k`` receives view ``k``'s crop box, and a
:class:`GeoRandomResizedCrop` with ``min_overlap`` resamples until enough of its crop lies inside it
(Revisiting-Contrastive's constrained multi-crop).
"""
import copy
from typing import List, Optional, Sequence

import mmcv
import numpy as np
from mmcv.transforms import BaseTransform, Compose
from mmpretrain.datasets.transforms import RandomResizedCrop

from densepre.registry import TRANSFORMS
from ..geometry import fraction_inside, make_geometry

# Keys a geometry-tracked pipeline reads / writes in the results dict.
CROP_BOX_KEY = 'view_crop_box'  # crop so far, original-image coordinates
REF_BOX_KEY = 'view_reference_box'  # crop box of the view this one must overlap


def _current_box(results: dict) -> np.ndarray:
    """Region of the original image the current ``results['img']`` shows."""
    if CROP_BOX_KEY in results:
        return np.asarray(results[CROP_BOX_KEY], dtype=np.float64)
    h, w = results.get('ori_shape', results['img'].shape[:2])[:2]
    return np.array([0., 0., w, h])


@TRANSFORMS.register_module()
class GeoRandomResizedCrop(RandomResizedCrop):
    """mmpretrain's ``RandomResizedCrop`` that records its crop box and can be constrained to
    overlap a reference view.

    Args:
        min_overlap (float, optional): if set and the results carry a reference box (a view built
            with ``overlap_with``), resample until at least this fraction of the crop's area lies
            inside the reference crop. Revisiting-Contrastive: 0.2 in the paper's appendix, 0.1 in
            the released code.
        overlap_tries (int): samples drawn before giving up; the last one is kept (unconstrained),
            as in the released code. Defaults to 10.
        **kwargs: ``RandomResizedCrop`` arguments (``scale``, ``crop_ratio_range``, ...).
    """

    def __init__(self,
                 *args,
                 min_overlap: Optional[float] = None,
                 overlap_tries: int = 10,
                 **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if min_overlap is not None and not 0 <= min_overlap <= 1:
            raise ValueError(f'min_overlap must be in [0, 1], got {min_overlap}')
        self.min_overlap = min_overlap
        self.overlap_tries = max(1, int(overlap_tries))

    def transform(self, results: dict) -> dict:
        if results.get('flip', False):
            raise ValueError(
                'GeoRandomResizedCrop must come before RandomFlip in a geometry-tracked view '
                '(a view is recorded as flip ∘ resize ∘ crop)')
        img = results['img']
        h, w = img.shape[:2]
        parent = _current_box(results)
        sx, sy = (parent[2] - parent[0]) / w, (parent[3] - parent[1]) / h
        ref = results.get(REF_BOX_KEY) if self.min_overlap is not None else None
        tries = self.overlap_tries if ref is not None else 1
        for _ in range(tries):
            top, left, ch, cw = self.rand_crop_params(img)
            box = np.array([
                parent[0] + left * sx, parent[1] + top * sy,
                parent[0] + (left + cw) * sx, parent[1] + (top + ch) * sy
            ])
            if ref is None or fraction_inside(box, np.asarray(ref)) >= self.min_overlap:
                break
        img = img[top:top + ch, left:left + cw]
        img = mmcv.imresize(
            img,
            tuple(self.scale[::-1]),
            interpolation=self.interpolation,
            backend=self.backend)
        results['img'] = img
        results['img_shape'] = img.shape
        results[CROP_BOX_KEY] = box
        return results

    def __repr__(self) -> str:
        return (super().__repr__()[:-1] +
                f', min_overlap={self.min_overlap}, overlap_tries={self.overlap_tries})')


@TRANSFORMS.register_module()
class GeoMultiView(BaseTransform):
    """Multi-view augmentation that records each view's geometry.

    Args:
        views (list[dict]): groups of views, each ``dict(num=N, transforms=[...],
            overlap_with=None)``. ``overlap_with`` is the index (over all views, in order) of an
            earlier view whose crop box the group's crop must overlap (see
            :class:`GeoRandomResizedCrop` ``min_overlap``).

    Writes ``results['img']`` (list of V images, in group order) and ``results['view_geometry']``
    (V, 7) float32 — pack it with ``PackInputs(algorithm_keys=['view_geometry'])``.

    Example (2 global views + 4 local views that must overlap view 0, the key)::

        dict(type='GeoMultiView', views=[
            dict(num=2, transforms=[dict(type='GeoRandomResizedCrop', scale=160), ...]),
            dict(num=4, overlap_with=0, transforms=[
                dict(type='GeoRandomResizedCrop', scale=96,
                     crop_ratio_range=(0.05, 0.14), min_overlap=0.2), ...]),
        ])
    """

    def __init__(self, views: Sequence[dict]) -> None:
        if not views:
            raise ValueError('GeoMultiView needs at least one view group')
        self.views: List[tuple] = []
        for group in views:
            group = dict(group)
            unknown = set(group) - {'num', 'transforms', 'overlap_with'}
            if unknown:
                raise KeyError(f'GeoMultiView view group has unknown keys {sorted(unknown)}; '
                               "expected 'num', 'transforms', 'overlap_with'")
            pipeline = Compose(group['transforms'])
            ref = group.get('overlap_with')
            for _ in range(int(group.get('num', 1))):
                if ref is not None and not 0 <= ref < len(self.views):
                    raise ValueError(f'overlap_with={ref} must name an earlier view '
                                     f'(0..{len(self.views) - 1})')
                self.views.append((pipeline, ref))
        self.num_views = len(self.views)

    def transform(self, results: dict) -> Optional[dict]:
        imgs, geoms = [], []
        for pipeline, ref in self.views:
            inputs = copy.copy(results)  # shallow: crops never write into the source image
            if ref is not None:
                inputs[REF_BOX_KEY] = geoms[ref][:4]
            out = pipeline(inputs)
            if out is None:
                return None
            flip = bool(out.get('flip', False))
            if flip and out.get('flip_direction', 'horizontal') != 'horizontal':
                raise ValueError('geometry-tracked views support horizontal flips only, got '
                                 f"flip_direction={out.get('flip_direction')!r}")
            imgs.append(out['img'])
            geoms.append(make_geometry(_current_box(out), flip, out['img'].shape[:2]))
        results['img'] = imgs
        results['img_shape'] = [img.shape[:2] for img in imgs]
        results['view_geometry'] = np.stack(geoms)
        results.pop(REF_BOX_KEY, None)
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(num_views={self.num_views})'
