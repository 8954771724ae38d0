"""View geometry, data side: what GeoMultiView records for every view.

Every geometry-tracked view (see :class:`densepre.datasets.transforms.GeoMultiView`) carries a
vector stored under :data:`GEOMETRY_KEY` with the fields :data:`GEOMETRY_FIELDS`::

    [x1, y1, x2, y2, flip, out_h, out_w, flags, img_h, img_w]

* ``(x1, y1, x2, y2)`` — the crop box in *continuous* original-image coordinates, where pixel
  ``(i, j)`` covers ``[j, j+1) x [i, i+1)`` (so a full ``H x W`` image is ``(0, 0, W, H)``);
* ``flip`` — 1 if the view was flipped horizontally after cropping;
* ``(out_h, out_w)`` — the view's output size in pixels;
* ``flags`` — a bit field:

  * :data:`FLAG_FALLBACK` (1): the crop had to overlap another view (``min_overlap``) and no try
    met the constraint, so the last, unconstrained sample was kept (the released
    Revisiting-Contrastive rule); the algorithms log how many such crops each batch has;
  * :data:`FLAG_WARPED` (2): a transform moved the view's pixels in a way the record cannot
    follow (A⁺'s AutoAugment ``Rotate`` / ``Shear`` / ``Translate``): the box and flip are still
    the crop's, but they no longer say where a pixel came from. Global losses may use the view;
    the correspondence functions refuse it.
* ``(img_h, img_w)`` — the size of the original image the box refers to. Geometries built by hand
  (tests, benchmarks) may stop after ``flags`` (:data:`CORE_GEOMETRY_DIM` fields); only a rule
  that needs the image size (CLoVE's release matching, which normalises x by ``W − 1`` and y by
  ``H − 1``) then refuses them.

The model side (cell centres, correspondences between views, batching of the per-sample vectors)
is :mod:`densepre.models.utils.correspondence`, which reads the same key and layout; the two
packages do not import each other (tests/test_geometry.py checks that the layouts agree).
"""
from typing import Optional, Sequence, Tuple

import numpy as np

GEOMETRY_KEY = 'view_geometry'
VIEW_GROUPS_KEY = 'view_groups'  # group name of each view, e.g. ('global', 'global', 'local')
GEOMETRY_FIELDS = ('x1', 'y1', 'x2', 'y2', 'flip', 'out_h', 'out_w', 'flags', 'img_h', 'img_w')
GEOMETRY_DIM = len(GEOMETRY_FIELDS)
CORE_GEOMETRY_DIM = GEOMETRY_FIELDS.index('flags') + 1  # a record without the image size
FLAG_FALLBACK = 1
FLAG_WARPED = 2


def make_geometry(box: Sequence[float], flip: bool, out_hw: Tuple[int, int],
                  fallback: bool = False, warped: bool = False,
                  image_hw: Optional[Tuple[int, int]] = None) -> np.ndarray:
    """Pack one view's geometry into the vector stored in data samples: all
    :data:`GEOMETRY_FIELDS` with ``image_hw`` (the original image's ``(H, W)``), the first
    :data:`CORE_GEOMETRY_DIM` without it."""
    x1, y1, x2, y2 = (float(v) for v in box)
    if not (x2 > x1 and y2 > y1):
        raise ValueError(f'degenerate crop box {box}')
    flags = FLAG_FALLBACK * bool(fallback) + FLAG_WARPED * bool(warped)
    size = []
    if image_hw is not None:
        size = [float(v) for v in image_hw[:2]]
        if min(size) < 1:
            raise ValueError(f'image size must be positive, got {tuple(image_hw)}')
    return np.array([x1, y1, x2, y2, float(bool(flip)), out_hw[0], out_hw[1], float(flags),
                     *size], dtype=np.float32)


def fraction_inside(boxes: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Fraction of the area of each box (..., 4) ``x1 y1 x2 y2`` lying inside ``ref`` (4,)."""
    boxes = np.asarray(boxes, dtype=np.float64)
    ix = np.clip(np.minimum(boxes[..., 2], ref[2]) -
                 np.maximum(boxes[..., 0], ref[0]), 0, None)
    iy = np.clip(np.minimum(boxes[..., 3], ref[3]) -
                 np.maximum(boxes[..., 1], ref[1]), 0, None)
    area = (boxes[..., 2] - boxes[..., 0]) * (boxes[..., 3] - boxes[..., 1])
    return ix * iy / np.maximum(area, 1e-12)
