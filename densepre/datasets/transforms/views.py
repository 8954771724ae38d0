"""Geometry-tracked multi-view augmentation.

:class:`GeoMultiView` runs one augmentation pipeline per view (like mmpretrain's ``MultiView``) and
records, for every view, its crop box in original-image coordinates, its horizontal flip and its
output size (see :mod:`densepre.datasets.geometry`). Views may be sampled *conditioned on another
view*: a view pipeline with ``overlap_with=k`` receives view ``k``'s crop box, and a
:class:`GeoRandomResizedCrop` with ``min_overlap`` resamples until enough of its crop lies inside it
(Revisiting-Contrastive's constrained multi-crop).

The recorded geometry cannot be silently wrong: a view pipeline is checked when it is built — every
transform must be one whose effect on the geometry is known (a geometry-recording crop, one
horizontal flip after it, a whole-image resize, a photometric transform, or one that flags the views
it warps, like A⁺'s AutoAugment, see ``FLAG_WARPED``) — and every sample is checked to reach
``GeoMultiView`` uncropped. Anything else is an error naming the transform.
"""
import copy
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import mmcv
import numpy as np
from mmcv.transforms import BaseTransform, Compose
from mmpretrain.datasets.transforms import RandomResizedCrop

from densepre.registry import TRANSFORMS
from ..geometry import GEOMETRY_KEY, VIEW_GROUPS_KEY, fraction_inside, make_geometry

# Keys a geometry-tracked pipeline reads / writes in the results dict.
CROP_BOX_KEY = 'view_crop_box'  # crop so far, original-image coordinates
REF_BOX_KEY = 'view_reference_box'  # crop box of the view this one must overlap
FALLBACK_KEY = 'view_overlap_fallback'  # the overlap constraint was not met: last try kept
WARPED_KEY = 'view_warped_by'  # names the transform that moved the pixels (flag FLAG_WARPED)

# Effect of a transform on the view geometry, by registered type name. A transform class of
# one's own can declare its effect with a class attribute ``view_geometry_effect`` (one of
# EFFECTS). Unknown transforms are refused. 'marks_warp': may move pixels in a way the record
# cannot follow, and then names itself under WARPED_KEY, so the view is flagged FLAG_WARPED.
EFFECTS = ('none', 'crop', 'flip', 'resize', 'marks_warp')
KNOWN_EFFECTS: Dict[str, str] = {
    # photometric: pixels change, coordinates do not
    **{name: 'none' for name in (
        'ColorJitter', 'RandomGrayscale', 'GaussianBlur', 'Solarize', 'SolarizeAdd', 'Posterize',
        'Equalize', 'AutoContrast', 'Brightness', 'Contrast', 'ColorTransform', 'Sharpness',
        'Invert', 'Lighting', 'RandomErasing', 'Cutout', 'ToPIL', 'ToNumpy')},
    'GeoRandomResizedCrop': 'crop',
    'RandomFlip': 'flip',
    # whole-image resizes keep the crop box; the output size is read from the image
    'Resize': 'resize',
    'ResizeEdge': 'resize',
    'RandomResize': 'resize',
}
# Containers whose children are checked (type name -> attribute / config key of the children).
CONTAINERS = {'RandomApply': 'transforms', 'RandomChoice': 'transforms',
              'RandomOrder': 'transforms', 'Compose': 'transforms',
              'AutoAugment': 'policies', 'RandAugment': 'policies'}


def _current_box(results: dict) -> np.ndarray:
    """Region of the original image the current ``results['img']`` shows."""
    if CROP_BOX_KEY in results:
        return np.asarray(results[CROP_BOX_KEY], dtype=np.float64)
    h, w = results.get('ori_shape', results['img'].shape[:2])[:2]
    return np.array([0., 0., w, h])


def resize_nearest_centred(img: np.ndarray, size_hw: Tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize sampling output pixel ``j`` at input position ``(j + 0.5)·scale``
    (the pixel-centre convention the recorded geometry assumes).

    OpenCV's ``INTER_NEAREST`` samples ``j·scale`` instead, which shifts the view by half an input
    pixel per output pixel; this is one fancy-index, no loop.
    """
    h, w = img.shape[:2]
    rows = np.minimum(((np.arange(size_hw[0]) + 0.5) * h / size_hw[0]).astype(np.int64), h - 1)
    cols = np.minimum(((np.arange(size_hw[1]) + 0.5) * w / size_hw[1]).astype(np.int64), w - 1)
    return np.ascontiguousarray(img[rows[:, None], cols[None, :]])


@TRANSFORMS.register_module()
class GeoRandomResizedCrop(RandomResizedCrop):
    """mmpretrain's ``RandomResizedCrop`` that records its crop box and can be constrained to
    overlap a reference view.

    ``interpolation='nearest'`` samples pixel centres with either backend (see
    :func:`resize_nearest_centred`), so the recorded geometry is exact for it too.

    Args:
        min_overlap (float, optional): resample until at least this fraction of the crop's area
            lies inside the reference crop (the crop box of the view named by the group's
            ``overlap_with``; a group with one needs the other). Revisiting-Contrastive: 0.2 in
            the paper's appendix, 0.1 in the released code.
        overlap_tries (int): samples drawn before giving up; the last one is kept (unconstrained),
            as in the released code, and flagged in the view geometry (``flags`` bit
            ``FLAG_FALLBACK``).
            Defaults to 10.
        **kwargs: ``RandomResizedCrop`` arguments (``scale``, ``crop_ratio_range``, ...).
    """

    view_geometry_effect = 'crop'

    def __init__(self,
                 *args,
                 min_overlap: Optional[float] = None,
                 overlap_tries: int = 10,
                 **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if min_overlap is not None and not 0 <= min_overlap <= 1:
            raise ValueError(f'min_overlap must be in [0, 1], got {min_overlap}')
        if int(overlap_tries) < 1:
            raise ValueError(f'overlap_tries must be >= 1, got {overlap_tries}')
        self.min_overlap = min_overlap
        self.overlap_tries = int(overlap_tries)

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
        if self.min_overlap is not None and ref is None:
            raise KeyError('GeoRandomResizedCrop(min_overlap=...) got no reference crop: give its '
                           'GeoMultiView group overlap_with=<index of an earlier view>')
        tries = self.overlap_tries if ref is not None else 1
        met = True
        for _ in range(tries):
            top, left, ch, cw = self.rand_crop_params(img)
            box = np.array([
                parent[0] + left * sx, parent[1] + top * sy,
                parent[0] + (left + cw) * sx, parent[1] + (top + ch) * sy
            ])
            met = ref is None or fraction_inside(box, np.asarray(ref)) >= self.min_overlap
            if met:
                break
        img = img[top:top + ch, left:left + cw]
        if self.interpolation == 'nearest':
            img = resize_nearest_centred(img, tuple(self.scale))
        else:
            img = mmcv.imresize(
                img,
                tuple(self.scale[::-1]),
                interpolation=self.interpolation,
                backend=self.backend)
        results['img'] = img
        results['img_shape'] = img.shape
        results[CROP_BOX_KEY] = box
        results[FALLBACK_KEY] = results.get(FALLBACK_KEY, False) or not met
        return results

    def __repr__(self) -> str:
        return (super().__repr__()[:-1] +
                f', min_overlap={self.min_overlap}, overlap_tries={self.overlap_tries})')


# ------------------------------------------------------------------------- pipeline checks
def _type_name(t) -> str:
    name = t.get('type') if isinstance(t, dict) else type(t)
    if not isinstance(name, str):
        name = name.__name__
    return name.split('.')[-1]


def _children(t) -> list:
    name = _type_name(t)
    key = CONTAINERS.get(name)
    if key is None:
        return []
    kids = t.get(key, []) if isinstance(t, dict) else getattr(t, key, [])
    if name == 'AutoAugment' and isinstance(kids, str):
        from mmpretrain.datasets.transforms.auto_augment import AUTOAUG_POLICIES
        kids = AUTOAUG_POLICIES[kids]
    if name == 'RandAugment' and isinstance(kids, str):
        from mmpretrain.datasets.transforms.auto_augment import RANDAUG_POLICIES
        kids = RANDAUG_POLICIES[kids]
    if isinstance(kids, Compose):
        kids = kids.transforms
    flat = []
    for k in kids or []:  # AutoAugment policies are lists of lists
        flat += list(k) if isinstance(k, (list, tuple)) else [k]
    return flat


def _leaves(transforms) -> Iterator:
    for t in transforms:
        if _type_name(t) in CONTAINERS:
            yield from _leaves(_children(t))
        else:
            yield t


def _effect(t) -> Optional[str]:
    name = _type_name(t)
    if name in KNOWN_EFFECTS:
        return KNOWN_EFFECTS[name]
    cls = t if isinstance(t, type) else (type(t) if not isinstance(t, dict) else None)
    if cls is None:
        cls = TRANSFORMS.get(t['type']) if isinstance(t.get('type'), str) else t.get('type')
    effect = getattr(cls, 'view_geometry_effect', None)
    return effect if effect in EFFECTS else None


def _arg(t, key, default=None):
    return t.get(key, default) if isinstance(t, dict) else getattr(t, key, default)


def check_view_pipeline(transforms: Sequence, where: str, overlap_with: Optional[int]) -> None:
    """Refuse, at build time, a view pipeline whose recorded geometry could be wrong.

    Raises ``ValueError`` naming the transform for: a transform of unknown or box-changing
    effect (plain ``RandomResizedCrop``, ``RandomCrop``, ``CenterCrop``, ``Rotate``, ...); more
    than one ``RandomFlip``, a flip before the crop or a non-horizontal flip; a nearest-neighbour
    ``Resize`` with the cv2 backend (half-pixel shifted); ``min_overlap`` without ``overlap_with``
    or the reverse.
    """
    flips, crops_after_flip, constrained = 0, [], False
    for t in _leaves(transforms):
        name, effect = _type_name(t), _effect(t)
        if effect is None:
            if 'Crop' in name:
                hint = ' Use GeoRandomResizedCrop, which records its crop box.'
            elif name in ('Pad', 'Rotate', 'Shear', 'Translate'):
                hint = (' A view is recorded as flip ∘ resize ∘ crop; remove it from the view '
                        '(or use mmpretrain MultiView if no loss reads the geometry).')
            else:
                hint = (" If it only changes pixel values, declare it with the class attribute "
                        "view_geometry_effect = 'none'.")
            raise ValueError(f'{where}: {name} changes or may change where the view\'s pixels '
                             f'come from, which GeoMultiView cannot record.{hint}')
        if effect == 'flip':
            flips += 1
            direction = _arg(t, 'direction', 'horizontal')
            directions = direction if isinstance(direction, (list, tuple)) else [direction]
            if any(d != 'horizontal' for d in directions):
                raise ValueError(f'{where}: RandomFlip(direction={direction!r}): geometry-tracked '
                                 'views support horizontal flips only')
            if flips > 1:
                raise ValueError(f'{where}: more than one RandomFlip: the recorded flip would be '
                                 "the last one's only; use a single RandomFlip")
        elif effect == 'crop':
            if flips:
                crops_after_flip.append(name)
            constrained |= _arg(t, 'min_overlap') is not None
        elif effect == 'resize' and _arg(t, 'interpolation', 'bilinear') == 'nearest' \
                and _arg(t, 'backend', 'cv2') == 'cv2':
            raise ValueError(f"{where}: {name}(interpolation='nearest', backend='cv2') samples "
                             'pixel corners, not centres (half-pixel shift per output pixel); '
                             "use backend='pillow' or another interpolation")
    if crops_after_flip:
        raise ValueError(f'{where}: {crops_after_flip[0]} comes after RandomFlip; a view is '
                         'recorded as flip ∘ resize ∘ crop, so the flip must come last')
    if constrained and overlap_with is None:
        raise ValueError(f'{where}: GeoRandomResizedCrop(min_overlap=...) needs the group to name '
                         'the view to overlap with overlap_with=<index of an earlier view>')
    if overlap_with is not None and not constrained:
        raise ValueError(f'{where}: overlap_with={overlap_with} has no effect without a '
                         'GeoRandomResizedCrop(min_overlap=...) in the group')


@TRANSFORMS.register_module()
class GeoMultiView(BaseTransform):
    """Multi-view augmentation that records each view's geometry.

    Args:
        views (list[dict]): groups of views, each ``dict(num=N, transforms=[...],
            name=None, overlap_with=None)``. ``name`` names the group (``'global'``, ``'local'``,
            ``'query'``, ``'reference'``, ...; default ``'group<i>'``); groups may share a name
            (e.g. two ``'global'`` groups with the BYOL asymmetric augmentations).
            ``overlap_with`` is the index (over all views, in order) of an earlier view whose crop
            box the group's crop must overlap (see :class:`GeoRandomResizedCrop`
            ``min_overlap``).

    Writes ``results['img']`` (list of V images, in group order), ``results['view_geometry']``
    (V, 10) float32 (``GEOMETRY_FIELDS``, with the original image size) and ``results['view_groups']`` (the group name of each of the V views) — pack
    them with ``PackInputs(algorithm_keys=['view_geometry', 'view_groups'])``; the algorithms
    address views by group name (:class:`densepre.models.utils.MultiViewBatch`).

    Example (2 global views + 4 local views that must overlap view 0, the key)::

        dict(type='GeoMultiView', views=[
            dict(num=2, name='global', transforms=[
                dict(type='GeoRandomResizedCrop', scale=160), ...]),
            dict(num=4, name='local', overlap_with=0, transforms=[
                dict(type='GeoRandomResizedCrop', scale=96,
                     crop_ratio_range=(0.05, 0.14), min_overlap=0.2), ...]),
        ])
    """

    def __init__(self, views: Sequence[dict]) -> None:
        if not views:
            raise ValueError('GeoMultiView needs at least one view group')
        self.views: List[tuple] = []
        self.view_groups: List[str] = []
        for i, group in enumerate(views):
            group = dict(group)
            unknown = set(group) - {'num', 'transforms', 'overlap_with', 'name'}
            if unknown:
                raise KeyError(f'GeoMultiView view group has unknown keys {sorted(unknown)}; '
                               "expected 'num', 'transforms', 'name', 'overlap_with'")
            name = group.get('name', f'group{i}')
            if not isinstance(name, str) or not name:
                raise ValueError(f'GeoMultiView view group {i}: name must be a non-empty string, '
                                 f'got {name!r}')
            ref = group.get('overlap_with')
            check_view_pipeline(group.get('transforms', []), f'GeoMultiView view group {i}', ref)
            pipeline = Compose(group['transforms'])
            for _ in range(int(group.get('num', 1))):
                if ref is not None and not 0 <= ref < len(self.views):
                    raise ValueError(f'overlap_with={ref} must name an earlier view '
                                     f'(0..{len(self.views) - 1})')
                self.views.append((pipeline, ref))
                self.view_groups.append(name)
        self.num_views = len(self.views)

    def transform(self, results: dict) -> Optional[dict]:
        shape = tuple(results['img'].shape[:2])
        ori = tuple(results.get('ori_shape', shape)[:2])
        if CROP_BOX_KEY in results or shape != ori:
            raise ValueError(
                f'the image reaching GeoMultiView is {shape[0]}x{shape[1]} but the loaded image '
                f'(ori_shape) is {ori[0]}x{ori[1]}: a transform before GeoMultiView changed the '
                'geometry, which the recorded view geometry cannot follow. Put crops and resizes '
                'inside the view pipelines (GeoRandomResizedCrop, Resize).')
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
            geoms.append(make_geometry(_current_box(out), flip, out['img'].shape[:2],
                                       fallback=out.get(FALLBACK_KEY, False),
                                       warped=bool(out.get(WARPED_KEY)), image_hw=ori))
        results['img'] = imgs
        results['img_shape'] = [img.shape[:2] for img in imgs]
        results[GEOMETRY_KEY] = np.stack(geoms)
        results[VIEW_GROUPS_KEY] = tuple(self.view_groups)
        results.pop(REF_BOX_KEY, None)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(num_views={self.num_views}, '
                f'view_groups={self.view_groups})')
