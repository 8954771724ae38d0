"""Correspondences between views from their recorded geometry (model side).

The data pipeline (:class:`densepre.datasets.transforms.GeoMultiView`) stores, for every view, a
vector under the data-sample key :data:`GEOMETRY_KEY` with the fields :data:`GEOMETRY_FIELDS`::

    [x1, y1, x2, y2, flip, out_h, out_w, flags]

* ``(x1, y1, x2, y2)`` — the crop box in *continuous* original-image coordinates, where pixel
  ``(i, j)`` covers ``[j, j+1) x [i, i+1)`` (a full ``H x W`` image is ``(0, 0, W, H)``);
* ``flip`` — 1 if the view was flipped horizontally after cropping;
* ``(out_h, out_w)`` — the view's output size in pixels;
* ``flags`` — bit field: :data:`FLAG_FALLBACK` (1) the crop was constrained to overlap another
  view but no try met the constraint, so the last (unconstrained) sample was kept;
  :data:`FLAG_WARPED` (2) a transform moved the view's pixels in a way the record cannot follow
  (A⁺'s AutoAugment ``Rotate`` / ``Shear`` / ``Translate``).

A view is ``flip ∘ resize ∘ crop`` of the original image, so a point with normalised view
coordinates ``(u, v) ∈ [0, 1]²`` came from::

    x = x1 + (1 - u if flip else u) · (x2 - x1),    y = y1 + v · (y2 - y1)

This is exact for pixel-centre resizing (output pixel ``j`` samples input position
``(j + 0.5)·scale``), which tests/test_geometry.py checks on coordinate-coded images.

Feature maps (stride-s CNN maps, ViT patch grids) are assumed to tile the view uniformly, so cell
``(r, c)`` of an ``h x w`` map has centre ``((c + 0.5)/w, (r + 0.5)/h)``. A grid that does not tile
the view (a 100-px view with 16-px patches: the ViT drops 4 px) would give wrong centres, so every
function that maps cells checks it and raises instead. Likewise every function that maps points
raises, naming the view, for a view flagged :data:`FLAG_WARPED` (:func:`check_trackable`): its
box and flip do not say where its pixels came from.

* CLoVE Sec. 3.3 / PixPro: distances between cell centres of two views in image coordinates,
  normalised by the larger cell diagonal (:func:`cell_distances`);
* LOCA Sec. 3.2 patch tracker: the reference patch containing each query patch centre, -1 outside
  (:func:`match_cells`).

All functions are batched tensor ops (no Python loop over pixels, cells or images) and accept any
leading batch dimensions. This module must not import ``densepre.datasets`` (and vice versa): the
key and the field layout are the contract between the two sides.
"""
from typing import Optional, Sequence, Tuple

import numpy as np
import torch

#: data-sample field holding the (V, 8) view geometries written by GeoMultiView.
GEOMETRY_KEY = 'view_geometry'
GEOMETRY_FIELDS = ('x1', 'y1', 'x2', 'y2', 'flip', 'out_h', 'out_w', 'flags')
GEOMETRY_DIM = len(GEOMETRY_FIELDS)
FLAGS_FIELD = GEOMETRY_FIELDS.index('flags')
FALLBACK_FIELD = FLAGS_FIELD  # the field that holds FLAG_FALLBACK (read it with has_flag)
FLAG_FALLBACK = 1
FLAG_WARPED = 2

__all__ = [
    'GEOMETRY_KEY', 'GEOMETRY_FIELDS', 'GEOMETRY_DIM', 'FLAG_FALLBACK', 'FLAG_WARPED', 'has_flag',
    'check_trackable', 'cell_centers', 'view_to_image', 'image_to_view', 'cell_centers_in_image',
    'match_cells', 'cell_diagonal', 'cell_distances', 'stack_geometries', 'check_grid_tiles_views'
]


def _check(geom: torch.Tensor) -> torch.Tensor:
    if geom.shape[-1] != GEOMETRY_DIM:
        raise ValueError(f'view geometry must end in {GEOMETRY_DIM} fields '
                         f'{GEOMETRY_FIELDS}, got shape {tuple(geom.shape)}')
    return geom


def has_flag(geom: torch.Tensor, flag: int) -> torch.Tensor:
    """Boolean (...,) mask of the views of ``geom`` (..., 8) whose ``flags`` have ``flag``."""
    return (_check(torch.as_tensor(geom))[..., FLAGS_FIELD].long() & int(flag)) != 0


def _as_array(geom):
    return geom if isinstance(geom, (np.ndarray, torch.Tensor)) else torch.as_tensor(geom)


def _on_host(geom) -> bool:
    return isinstance(geom, np.ndarray) or (isinstance(geom, torch.Tensor)
                                            and geom.device.type == 'cpu')


def _host_array(geom) -> np.ndarray:
    geom = _as_array(geom)
    return geom if isinstance(geom, np.ndarray) else geom.detach().numpy()


def _warped_message(warped: np.ndarray, shape, what: str) -> str:
    where = [tuple(int(j) for j in i) for i in np.argwhere(warped)]
    shown = ', '.join(map(str, where[:5])) + (', ...' if len(where) > 5 else '')
    return (f'{what}: {len(where)} view(s) at index {shown} of a geometry tensor of shape '
            f'{tuple(shape)} are flagged warped (flags & {FLAG_WARPED}): a transform such '
            "as A+'s AutoAugment Rotate / Shear / Translate moved their pixels after the crop, "
            'so their crop box and flip do not say where a pixel came from and no correspondence '
            'can be computed. Keep such augmentations out of the views a dense loss matches.')


def check_trackable(geom: torch.Tensor, what: str = 'view geometry') -> torch.Tensor:
    """Raise, naming the views, if any view of ``geom`` (..., 8) is flagged
    :data:`FLAG_WARPED`; returns ``geom``.

    Host data (numpy or a CPU tensor) is checked on the host with numpy, without reading a
    tensor: algorithms check the batch's geometry this way once, before moving it to the
    device. A geometry already on an accelerator is checked there without synchronising
    (``torch._assert_async``: the step fails later, asynchronously, if a view is warped).
    """
    _check(_as_array(geom))
    if _on_host(geom):
        flags = _host_array(geom)[..., FLAGS_FIELD].astype(np.int64)
        warped = (flags & FLAG_WARPED) != 0
        if warped.any():
            raise ValueError(_warped_message(warped, geom.shape, what))
    else:
        torch._assert_async(~has_flag(geom, FLAG_WARPED).any(),
                             f'{what}: a view is flagged warped (flags & {FLAG_WARPED})')
    return geom


def check_grid_tiles_views(geom: torch.Tensor, hw: Tuple[int, int],
                           stride: Optional[int] = None) -> None:
    """Raise unless an ``hw`` cell grid tiles every view of ``geom`` exactly.

    Without ``stride``, each view's output size must be a multiple of the grid size (cells of
    equal integer size); with ``stride`` (CNN stride / ViT patch size) it must equal
    ``hw · stride`` — a ViT drops the pixels beyond the last whole patch and a strided CNN pads,
    so in both cases the cell centres would not be where the formula puts them.
    Like :func:`check_trackable`: on the host with numpy, on a device without synchronising.
    """
    geom = _check(_as_array(geom))
    if stride is not None:
        rule = f'{hw[0]}x{hw[1]} cells of {stride} px must cover it exactly'
    else:
        rule = f'its size must be a multiple of the {hw[0]}x{hw[1]} grid'
    if _on_host(geom):
        out = np.rint(_host_array(geom)[..., 5:7]).astype(np.int64).reshape(-1, 2)
        grid = np.asarray(hw, dtype=np.int64)
        bad = (out != grid * int(stride)).any(-1) if stride is not None else \
            (out % grid != 0).any(-1)
        if bad.any():
            h, w = out[np.argmax(bad)].tolist()
            raise ValueError(f'a {hw[0]}x{hw[1]} feature grid does not tile a {h}x{w} view '
                             f'({rule}); make the view size a multiple of the patch size / '
                             'stride')
        return
    out_h, out_w = geom[..., 5].round().long(), geom[..., 6].round().long()
    if stride is not None:
        bad = (out_h != hw[0] * int(stride)) | (out_w != hw[1] * int(stride))
    else:
        bad = (out_h.remainder(hw[0]) != 0) | (out_w.remainder(hw[1]) != 0)
    torch._assert_async(~bad.any(), f'a {hw[0]}x{hw[1]} feature grid does not tile a view '
                        f'({rule})')


def cell_centers(h: int, w: int, device=None,
                 dtype=torch.float32) -> torch.Tensor:
    """Normalised ``(u, v)`` centres of the cells of an ``h x w`` grid, row-major: (h*w, 2)."""
    v = (torch.arange(h, device=device, dtype=dtype) + 0.5) / h
    u = (torch.arange(w, device=device, dtype=dtype) + 0.5) / w
    vv, uu = torch.meshgrid(v, u, indexing='ij')
    return torch.stack([uu.reshape(-1), vv.reshape(-1)], dim=-1)


def view_to_image(uv: torch.Tensor, geom: torch.Tensor) -> torch.Tensor:
    """Map normalised view points ``uv`` (..., N, 2) to original-image ``xy`` (..., N, 2).

    ``geom`` is (..., 8) with the same leading dims as ``uv`` (or broadcastable).
    """
    geom = check_trackable(_check(geom), 'view_to_image').to(uv.dtype)
    x1, y1, x2, y2, flip = (geom[..., i, None] for i in range(5))
    u = torch.where(flip > 0.5, 1.0 - uv[..., 0], uv[..., 0])
    x = x1 + u * (x2 - x1)
    y = y1 + uv[..., 1] * (y2 - y1)
    return torch.stack([x, y], dim=-1)


def image_to_view(xy: torch.Tensor,
                  geom: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """Inverse of :func:`view_to_image`: returns ``(uv, inside)`` where ``inside`` marks points
    that fall in the view (``0 <= u, v < 1``)."""
    geom = check_trackable(_check(geom), 'image_to_view').to(xy.dtype)
    x1, y1, x2, y2, flip = (geom[..., i, None] for i in range(5))
    u = (xy[..., 0] - x1) / (x2 - x1)
    v = (xy[..., 1] - y1) / (y2 - y1)
    inside = (u >= 0) & (u < 1) & (v >= 0) & (v < 1)
    u = torch.where(flip > 0.5, 1.0 - u, u)
    return torch.stack([u, v], dim=-1), inside


def cell_centers_in_image(geom: torch.Tensor, hw: Tuple[int, int],
                          stride: Optional[int] = None) -> torch.Tensor:
    """Original-image coordinates of the cell centres of an ``hw`` feature map of each view.

    Args:
        geom: (..., 8) view geometries.
        hw: feature map size ``(h, w)`` (or ViT patch grid).
        stride: optional stride / patch size in view pixels (see
            :func:`check_grid_tiles_views`).

    Returns:
        (..., h*w, 2) ``xy`` in original-image pixels, cells in row-major order.
    """
    geom = check_trackable(_check(torch.as_tensor(geom)), 'cell_centers_in_image')
    check_grid_tiles_views(geom, hw, stride)
    uv = cell_centers(*hw, device=geom.device)
    uv = uv.expand(*geom.shape[:-1], *uv.shape)
    return view_to_image(uv, geom)


def match_cells(geom_src: torch.Tensor, hw_src: Tuple[int, int],
                geom_dst: torch.Tensor, hw_dst: Tuple[int, int],
                stride_src: Optional[int] = None,
                stride_dst: Optional[int] = None) -> torch.Tensor:
    """For every cell of the source view, the index of the destination-view cell that contains
    the same image point (its centre), or -1 when that point lies outside the destination view.

    This is LOCA's patch tracker (nearest-neighbour through crop / flip / resize).

    Returns:
        (..., h_src*w_src) long tensor of row-major destination cell indices.
    """
    geom_dst = check_trackable(_check(torch.as_tensor(geom_dst)), 'match_cells (destination)')
    xy = cell_centers_in_image(check_trackable(geom_src, 'match_cells (source)'), hw_src,
                               stride_src)
    geom_dst = geom_dst.to(xy.device)
    check_grid_tiles_views(geom_dst, hw_dst, stride_dst)
    uv, inside = image_to_view(xy, geom_dst)
    h, w = hw_dst
    col = (uv[..., 0] * w).floor().long().clamp(0, w - 1)
    row = (uv[..., 1] * h).floor().long().clamp(0, h - 1)
    index = row * w + col
    return torch.where(inside, index, torch.full_like(index, -1))


def cell_diagonal(geom: torch.Tensor, hw: Tuple[int, int]) -> torch.Tensor:
    """Diagonal of one feature-map cell in original-image pixels: (...,)."""
    geom = check_trackable(_check(torch.as_tensor(geom)), 'cell_diagonal')
    bin_w = (geom[..., 2] - geom[..., 0]) / hw[1]
    bin_h = (geom[..., 3] - geom[..., 1]) / hw[0]
    return torch.sqrt(bin_w**2 + bin_h**2)


def cell_distances(geom_a: torch.Tensor, hw_a: Tuple[int, int],
                   geom_b: torch.Tensor, hw_b: Tuple[int, int],
                   stride_a: Optional[int] = None,
                   stride_b: Optional[int] = None) -> torch.Tensor:
    """Pairwise distances between cell centres of two views in original-image coordinates,
    divided by the larger of the two views' cell diagonals (CLoVE Sec. 3.3, following PixPro), so
    that ``distance < T_pos`` selects positive pairs independently of the crop scales.

    Returns:
        (..., h_a*w_a, h_b*w_b) normalised distances.
    """
    xy_a = cell_centers_in_image(check_trackable(geom_a, 'cell_distances (views a)'), hw_a,
                                 stride_a)
    xy_b = cell_centers_in_image(check_trackable(geom_b, 'cell_distances (views b)'), hw_b,
                                 stride_b)
    dist = torch.cdist(xy_a, xy_b)
    scale = torch.maximum(cell_diagonal(geom_a, hw_a), cell_diagonal(geom_b, hw_b))
    return dist / scale[..., None, None]


def stack_geometries(data_samples: Sequence, key: str = GEOMETRY_KEY,
                     trackable: bool = False) -> torch.Tensor:
    """Collect the per-sample (V, 8) geometries of a batch into one (B, V, 8) tensor (on the
    host). ``trackable=True``: also check, on the host and once for the batch, that no view is
    flagged warped (:func:`check_trackable`) — for an algorithm that matches every view, before
    it moves the geometry to the device (a global loss may use warped views: default False)."""
    try:
        geoms = [np.asarray(getattr(ds, key)) for ds in data_samples]
    except AttributeError as e:
        raise KeyError(
            f'data samples carry no `{key}`: build the views with GeoMultiView and pack them '
            f"with PackInputs(algorithm_keys=['{key}'])") from e
    geoms = np.stack(geoms)
    if trackable:
        check_trackable(geoms, f'the batch\'s {key}')
    return _check(torch.from_numpy(geoms).float())
