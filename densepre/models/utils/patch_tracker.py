"""LOCA's patch tracker h (Sec. 3, "Correspondences between query and reference"): for every
query patch, the reference patch with the greatest overlap, −1 outside the reference.

Views are axis-aligned ``flip ∘ resize ∘ crop`` of the image, so the overlap of two patches is
the product of their x- and y-overlaps and is largest for the reference cell whose centre is the
closest in each axis — the cell that contains the query patch centre (ties aside). This is
:func:`~densepre.models.utils.correspondence.match_cells` on the recorded geometry; here it
additionally follows the query tokens that were kept after random token dropping.
"""
from typing import Optional, Tuple

import torch

from .correspondence import match_cells


def track_patches(query_geom: torch.Tensor, query_hw: Tuple[int, int],
                  reference_geom: torch.Tensor, reference_hw: Tuple[int, int],
                  patch_size: int, keep_idx: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Targets h(j) (B, n) of the (kept) query patches: row-major reference patch index, −1
    where the query patch centre lies outside the reference view.

    Args:
        query_geom, reference_geom: (B, 8) view geometries (``GEOMETRY_FIELDS``).
        query_hw, reference_hw: patch grids; ``patch_size`` must tile both views exactly.
        keep_idx: (B, n) row-major indices of the query tokens kept by token dropping.
    """
    targets = match_cells(query_geom, tuple(query_hw), reference_geom, tuple(reference_hw),
                          stride_src=patch_size, stride_dst=patch_size)
    if keep_idx is not None:
        targets = targets.gather(1, keep_idx.to(targets.device))
    return targets


def query_box_in_reference(query_geom: torch.Tensor, reference_geom: torch.Tensor
                           ) -> Tuple[torch.Tensor, torch.Tensor]:
    """LOCA Table 5 "query box coordinates": the query view's box in normalised reference
    coordinates ``(x1, y1, x2, y2)``, clipped to the reference (the part of the query the
    reference shows), and whether that part has a positive area.

    Args:
        query_geom, reference_geom: (B, 8) view geometries (``GEOMETRY_FIELDS``).

    Returns:
        ``(boxes (B, 4), valid (B,))``. A flipped reference mirrors the box.
    """
    from .correspondence import image_to_view
    corners = torch.stack([query_geom[:, 0:2], query_geom[:, 2:4]], dim=1).float()  # (B, 2, 2)
    uv, _ = image_to_view(corners, reference_geom.float())
    lo, hi = uv.min(dim=1).values.clamp(0, 1), uv.max(dim=1).values.clamp(0, 1)
    boxes = torch.cat([lo, hi], dim=-1)
    valid = (hi - lo).prod(-1) > 0
    return boxes, valid
