"""View geometry: where every pixel / feature cell / ViT patch of an augmented view came from.

Every geometry-tracked view (see :class:`densepre.datasets.transforms.GeoMultiView`) carries a
7-vector ``[x1, y1, x2, y2, flip, out_h, out_w]``:

* ``(x1, y1, x2, y2)`` — the crop box in *continuous* original-image coordinates, where pixel
  ``(i, j)`` covers ``[j, j+1) x [i, i+1)`` (so a full ``H x W`` image is ``(0, 0, W, H)``);
* ``flip`` — 1 if the view was flipped horizontally after cropping;
* ``(out_h, out_w)`` — the view's output size in pixels.

A view is ``flip ∘ resize ∘ crop`` of the original image, so a point with normalised view
coordinates ``(u, v) ∈ [0, 1]²`` came from::

    x = x1 + (1 - u if flip else u) · (x2 - x1),    y = y1 + v · (y2 - y1)

This is exact for the pixel-centre convention of OpenCV / PIL resizing (output pixel ``j`` samples
input position ``(j + 0.5)·scale``), which the coordinate-coded image test checks.

Feature maps (stride-s CNN maps, ViT patch grids) tile the view uniformly, so cell ``(r, c)`` of an
``h x w`` map has centre ``((c + 0.5)/w, (r + 0.5)/h)``. The correspondences used by the dense
methods are built from these functions:

* CLoVE Sec. 3.3 / PixPro: distances between cell centres of two views in image coordinates,
  normalised by the larger cell diagonal (:func:`cell_distances`);
* LOCA Sec. 3.2 patch tracker: the reference patch containing each query patch centre, -1 outside
  (:func:`match_cells`);
* Revisiting-Contrastive constrained multi-crop: the fraction of a crop inside another
  (:func:`fraction_inside`).

All functions are batched tensor ops (no Python loop over pixels, cells or images) and accept any
leading batch dimensions.
"""
from typing import Sequence, Tuple, Union

import numpy as np
import torch

GEOMETRY_FIELDS = ('x1', 'y1', 'x2', 'y2', 'flip', 'out_h', 'out_w')
GEOMETRY_DIM = len(GEOMETRY_FIELDS)

ArrayLike = Union[np.ndarray, torch.Tensor]


def make_geometry(box: Sequence[float], flip: bool,
                  out_hw: Tuple[int, int]) -> np.ndarray:
    """Pack one view's geometry into the 7-vector stored in data samples."""
    x1, y1, x2, y2 = (float(v) for v in box)
    if not (x2 > x1 and y2 > y1):
        raise ValueError(f'degenerate crop box {box}')
    return np.array([x1, y1, x2, y2, float(bool(flip)), out_hw[0], out_hw[1]],
                    dtype=np.float32)


def _check(geom: torch.Tensor) -> torch.Tensor:
    if geom.shape[-1] != GEOMETRY_DIM:
        raise ValueError(f'view geometry must end in {GEOMETRY_DIM} fields '
                         f'{GEOMETRY_FIELDS}, got shape {tuple(geom.shape)}')
    return geom


def cell_centers(h: int, w: int, device=None,
                 dtype=torch.float32) -> torch.Tensor:
    """Normalised ``(u, v)`` centres of the cells of an ``h x w`` grid, row-major: (h*w, 2)."""
    v = (torch.arange(h, device=device, dtype=dtype) + 0.5) / h
    u = (torch.arange(w, device=device, dtype=dtype) + 0.5) / w
    vv, uu = torch.meshgrid(v, u, indexing='ij')
    return torch.stack([uu.reshape(-1), vv.reshape(-1)], dim=-1)


def view_to_image(uv: torch.Tensor, geom: torch.Tensor) -> torch.Tensor:
    """Map normalised view points ``uv`` (..., N, 2) to original-image ``xy`` (..., N, 2).

    ``geom`` is (..., 7) with the same leading dims as ``uv`` (or broadcastable).
    """
    geom = _check(geom).to(uv.dtype)
    x1, y1, x2, y2, flip = (geom[..., i, None] for i in range(5))
    u = torch.where(flip > 0.5, 1.0 - uv[..., 0], uv[..., 0])
    x = x1 + u * (x2 - x1)
    y = y1 + uv[..., 1] * (y2 - y1)
    return torch.stack([x, y], dim=-1)


def image_to_view(xy: torch.Tensor,
                  geom: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """Inverse of :func:`view_to_image`: returns ``(uv, inside)`` where ``inside`` marks points
    that fall in the view (``0 <= u, v < 1``)."""
    geom = _check(geom).to(xy.dtype)
    x1, y1, x2, y2, flip = (geom[..., i, None] for i in range(5))
    u = (xy[..., 0] - x1) / (x2 - x1)
    v = (xy[..., 1] - y1) / (y2 - y1)
    inside = (u >= 0) & (u < 1) & (v >= 0) & (v < 1)
    u = torch.where(flip > 0.5, 1.0 - u, u)
    return torch.stack([u, v], dim=-1), inside


def cell_centers_in_image(geom: torch.Tensor, hw: Tuple[int,
                                                        int]) -> torch.Tensor:
    """Original-image coordinates of the cell centres of an ``hw`` feature map of each view.

    Args:
        geom: (..., 7) view geometries.
        hw: feature map size ``(h, w)`` (or ViT patch grid).

    Returns:
        (..., h*w, 2) ``xy`` in original-image pixels, cells in row-major order.
    """
    geom = _check(torch.as_tensor(geom))
    uv = cell_centers(*hw, device=geom.device)
    uv = uv.expand(*geom.shape[:-1], *uv.shape)
    return view_to_image(uv, geom)


def match_cells(geom_src: torch.Tensor, hw_src: Tuple[int, int],
                geom_dst: torch.Tensor, hw_dst: Tuple[int,
                                                      int]) -> torch.Tensor:
    """For every cell of the source view, the index of the destination-view cell that contains
    the same image point (its centre), or -1 when that point lies outside the destination view.

    This is LOCA's patch tracker (nearest-neighbour through crop / flip / resize).

    Returns:
        (..., h_src*w_src) long tensor of row-major destination cell indices.
    """
    xy = cell_centers_in_image(geom_src, hw_src)
    uv, inside = image_to_view(xy, torch.as_tensor(geom_dst).to(xy.device))
    h, w = hw_dst
    col = (uv[..., 0] * w).floor().long().clamp(0, w - 1)
    row = (uv[..., 1] * h).floor().long().clamp(0, h - 1)
    index = row * w + col
    return torch.where(inside, index, torch.full_like(index, -1))


def cell_diagonal(geom: torch.Tensor, hw: Tuple[int, int]) -> torch.Tensor:
    """Diagonal of one feature-map cell in original-image pixels: (...,)."""
    geom = _check(torch.as_tensor(geom))
    bin_w = (geom[..., 2] - geom[..., 0]) / hw[1]
    bin_h = (geom[..., 3] - geom[..., 1]) / hw[0]
    return torch.sqrt(bin_w**2 + bin_h**2)


def cell_distances(geom_a: torch.Tensor, hw_a: Tuple[int, int],
                   geom_b: torch.Tensor, hw_b: Tuple[int,
                                                     int]) -> torch.Tensor:
    """Pairwise distances between cell centres of two views in original-image coordinates,
    divided by the larger of the two views' cell diagonals (CLoVE Sec. 3.3, following PixPro), so
    that ``distance < T_pos`` selects positive pairs independently of the crop scales.

    Returns:
        (..., h_a*w_a, h_b*w_b) normalised distances.
    """
    xy_a = cell_centers_in_image(geom_a, hw_a)
    xy_b = cell_centers_in_image(geom_b, hw_b)
    dist = torch.cdist(xy_a, xy_b)
    scale = torch.maximum(cell_diagonal(geom_a, hw_a), cell_diagonal(geom_b, hw_b))
    return dist / scale[..., None, None]


def fraction_inside(boxes: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Fraction of the area of each box (..., 4) ``x1 y1 x2 y2`` lying inside ``ref`` (4,)."""
    boxes = np.asarray(boxes, dtype=np.float64)
    ix = np.clip(np.minimum(boxes[..., 2], ref[2]) -
                 np.maximum(boxes[..., 0], ref[0]), 0, None)
    iy = np.clip(np.minimum(boxes[..., 3], ref[3]) -
                 np.maximum(boxes[..., 1], ref[1]), 0, None)
    area = (boxes[..., 2] - boxes[..., 0]) * (boxes[..., 3] - boxes[..., 1])
    return ix * iy / np.maximum(area, 1e-12)


def stack_geometries(data_samples, key: str = 'view_geometry') -> torch.Tensor:
    """Collect the per-sample (V, 7) geometries of a batch into one (B, V, 7) tensor."""
    try:
        geoms = [torch.as_tensor(np.asarray(getattr(ds, key))) for ds in data_samples]
    except AttributeError as e:
        raise KeyError(
            f'data samples carry no `{key}`: build the views with GeoMultiView and pack them '
            f"with PackInputs(algorithm_keys=['{key}'])") from e
    return torch.stack(geoms).float()
