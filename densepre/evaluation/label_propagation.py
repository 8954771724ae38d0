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
from typing import Optional

import torch
import torch.nn.functional as F

#: The published label-propagation settings (videowalk README, DAVIS command).
TOPK = 10
TEMPERATURE = 0.05
CONTEXT = 20
RADIUS = 12.0


def radius_mask(h: int, w: int, radius: float) -> torch.Tensor:
    """``(h*w, h*w)`` bool: Euclidean distance between two grid cells ``< radius``."""
    yy, xx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing='ij')
    pos = torch.stack([yy.flatten(), xx.flatten()], 1).float()
    return torch.cdist(pos, pos) < radius


def context_frames(t: int, context: int) -> torch.Tensor:
    """Indices of the context frames of target ``t``: the first frame, then frames
    ``t - context .. t - 1`` clamped at 0 (the release's first-frame padding)."""
    return torch.cat([torch.zeros(1, dtype=torch.long),
                      (torch.arange(t - context, t)).clamp(min=0)])


@torch.no_grad()
def propagate_labels(feats: torch.Tensor, first_labels: torch.Tensor, topk: int = TOPK,
                     temperature: float = TEMPERATURE, context: int = CONTEXT,
                     radius: float = RADIUS, chunk: Optional[int] = 1024) -> torch.Tensor:
    """Propagate the first frame's label distribution through a video.

    Args:
        feats: ``(T, C, h, w)`` frame features (L2-normalised here along ``C``).
        first_labels: ``(K, h, w)`` label distribution of frame 0 (e.g. its one-hot masks
            resized to the feature grid).
        topk, temperature, context, radius: the protocol settings (module docstring).
        chunk: query positions per affinity block (memory bound; ``None`` = all at once).

    Returns:
        ``(T, K, h, w)`` label distributions; frame 0 equals ``first_labels``.
    """
    t_len, c, h, w = feats.shape
    if first_labels.shape[-2:] != (h, w):
        raise ValueError(f'first-frame labels {tuple(first_labels.shape)} do not match the '
                         f'feature grid {(h, w)}')
    n = h * w
    feats = F.normalize(feats.float(), dim=1).flatten(2)  # T, C, n
    labels = torch.zeros(t_len, first_labels.shape[0], n, dtype=torch.float32,
                         device=feats.device)
    labels[0] = first_labels.flatten(1).float()
    # additive mask on the short-term context: 0 inside the radius, -inf-like outside
    local = torch.zeros(n, n, device=feats.device).masked_fill_(
        ~radius_mask(h, w, radius).to(feats.device), -1e10)
    chunk = chunk or n
    for t in range(1, t_len):
        idx = context_frames(t, context).to(feats.device)
        keys = feats[idx]  # L, C, n
        ctx_labels = labels[idx].permute(1, 0, 2).flatten(1)  # K, L*n
        for q0 in range(0, n, chunk):
            q = feats[t, :, q0:q0 + chunk]  # C, m
            aff = torch.einsum('lcn,cm->lnm', keys, q)  # L, n, m
            aff[1:] += local[:, q0:q0 + chunk]
            aff = aff.flatten(0, 1) / temperature  # L*n, m
            weights, ids = aff.topk(topk, dim=0)
            weights = weights.softmax(dim=0)
            labels[t, :, q0:q0 + chunk] = (ctx_labels[:, ids] * weights).sum(1)
    return labels.view(t_len, -1, h, w)
