"""Video label propagation by feature nearest neighbours (Jabri et al., NeurIPS 2020, Sec. 3.3).

The protocol of the contrastive random walk release (github.com/ajabri/videowalk, ``code/test.py``
and ``code/utils/test_utils.py``), which Revisiting-Contrastive (Table 5, appendix A.6) runs on
frozen features. For target frame ``t >= 1`` the context is the first frame (always, unrestricted
in space) and the ``context`` preceding frames (frames before the video start are copies of the
first frame, as the release pads the video with ``context`` copies of it); a context position
within distance ``< radius`` (feature cells) of the query position is a candidate neighbour. With
L2-normalised features ``f``, the affinity of query ``q`` to candidate ``k`` is
``A_kq = <f_k, f_q> / temperature``; the ``topk`` largest ``A_kq`` over all candidates of all
context frames get softmax weights ``w`` and the label distribution of ``q`` is
``y_q = sum_k w_kq y_k``. Frame 0 keeps its (given) labels; predicted distributions are used as
context labels of later frames.
"""
import math
from typing import Optional

import torch
import torch.nn.functional as F

#: The published label-propagation settings (videowalk README, DAVIS command).
TOPK = 10
TEMPERATURE = 0.05
CONTEXT = 20
RADIUS = 12.0


def context_frames(t: int, context: int) -> torch.Tensor:
    """Indices of the context frames of target ``t``: the first frame, then frames
    ``t - context .. t - 1`` clamped at 0 (the release's first-frame padding)."""
    return torch.cat([torch.zeros(1, dtype=torch.long),
                      (torch.arange(t - context, t)).clamp(min=0)])


@torch.no_grad()
def propagate_labels(feats: torch.Tensor, first_labels: torch.Tensor, topk: int = TOPK,
                     temperature: float = TEMPERATURE, context: int = CONTEXT,
                     radius: float = RADIUS, tile: Optional[int] = 16) -> torch.Tensor:
    """Propagate the first frame's label distribution through a video.

    Args:
        feats: ``(T, C, h, w)`` frame features (L2-normalised here along ``C``).
        first_labels: ``(K, h, w)`` label distribution of frame 0 (e.g. its one-hot masks
            resized to the feature grid).
        topk, temperature, context, radius: the protocol settings (module docstring).
        tile: queries are processed in ``tile x tile`` blocks of the grid; for a block only the
            window of the short-term context frames within the radius is multiplied (one batched
            matmul over all context frames), the first frame in full. ``None``: one block, i.e.
            the dense masked affinity of the release (same result, more work).

    Returns:
        ``(T, K, h, w)`` label distributions; frame 0 equals ``first_labels``.
    """
    t_len, c, h, w = feats.shape
    if first_labels.shape[-2:] != (h, w):
        raise ValueError(f'first-frame labels {tuple(first_labels.shape)} do not match the '
                         f'feature grid {(h, w)}')
    k = first_labels.shape[0]
    feats = F.normalize(feats.float(), dim=1).permute(0, 2, 3, 1).contiguous()  # T, h, w, C
    labels = torch.zeros(t_len, k, h, w, dtype=torch.float32, device=feats.device)
    labels[0] = first_labels.float()
    th, tw = (h, w) if tile is None else (tile, tile)
    ext = max(int(math.ceil(radius)) - 1, 0)  # |dy|, |dx| <= ext for distance < radius
    yy, xx = torch.meshgrid(torch.arange(h, device=feats.device),
                            torch.arange(w, device=feats.device), indexing='ij')
    first_keys = feats[0].reshape(h * w, c)
    for t in range(1, t_len):
        idx = context_frames(t, context)[1:].to(feats.device)
        first_lbl = labels[0].flatten(1)  # K, n
        for r0 in range(0, h, th):
            for c0 in range(0, w, tw):
                r1, c1 = min(r0 + th, h), min(c0 + tw, w)
                wr0, wr1, wc0, wc1 = max(r0 - ext, 0), min(r1 + ext, h), max(c0 - ext, 0), \
                    min(c1 + ext, w)
                q = feats[t, r0:r1, c0:c1].reshape(-1, c).T  # C, m
                keys = feats[idx, wr0:wr1, wc0:wc1].reshape(len(idx), -1, c)  # L, nw, C
                aff_local = keys @ q  # L, nw, m
                dy = yy[wr0:wr1, wc0:wc1].flatten()[:, None] - yy[r0:r1, c0:c1].flatten()[None]
                dx = xx[wr0:wr1, wc0:wc1].flatten()[:, None] - xx[r0:r1, c0:c1].flatten()[None]
                far = (dy * dy + dx * dx).float().sqrt() >= radius  # nw, m
                aff_local.masked_fill_(far[None], -1e10)
                aff = torch.cat([first_keys @ q, aff_local.flatten(0, 1)]) / temperature
                weights, ids = aff.topk(topk, dim=0)  # topk, m
                weights = weights.softmax(dim=0)
                ctx = torch.cat([first_lbl, labels[idx, :, wr0:wr1, wc0:wc1].permute(
                    1, 0, 2, 3).flatten(1)], dim=1)  # K, n + L * nw
                labels[t, :, r0:r1, c0:c1] = (ctx[:, ids] * weights).sum(1).view(k, r1 - r0,
                                                                               c1 - c0)
    return labels
