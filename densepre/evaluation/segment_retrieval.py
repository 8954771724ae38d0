"""Semantic segment retrieval on frozen features (Revisiting-Contrastive, Table 6 and appendix A.7).

Each image's dense features are clustered with K-means (K = 15) into segments; a segment's
descriptor is the mean feature of its cells; a train segment is labelled with the majority
ground-truth class of its pixels; every val segment takes the label of its nearest train segment
(1-NN, no weighting), the segment map is resized to the image (nearest) and scored by mIoU.
"""
from typing import Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F


def kmeans(x: torch.Tensor, k: int, iters: int = 50, seed: int = 0,
           init: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, torch.Tensor]:
    """Lloyd's K-means, batched over images.

    Args:
        x: ``(B, N, D)`` points of B independent problems.
        k: clusters per problem.
        iters: maximum iterations (stops earlier when no assignment changes).
        seed: the initial centres are ``k`` distinct points per problem drawn with a
            ``torch.Generator`` seeded with ``seed`` (deterministic).
        init: ``(B, k)`` indices of the initial centres (overrides ``seed``).

    Returns:
        ``assign (B, N)`` cluster index per point and ``centres (B, k, D)``. A cluster that
        loses all its points keeps its previous centre.
    """
    b, n, d = x.shape
    if k > n:
        raise ValueError(f'K-means with k={k} > {n} points')
    x = x.float()
    if init is None:
        gen = torch.Generator().manual_seed(seed)
        init = torch.rand(b, n, generator=gen).argsort(dim=1)[:, :k].to(x.device)
    centres = torch.gather(x, 1, init[..., None].expand(b, k, d))
    assign = None
    for _ in range(iters):
        dist = (x * x).sum(-1, keepdim=True) - 2 * x @ centres.transpose(1, 2) + \
            (centres * centres).sum(-1)[:, None]
        new = dist.argmin(-1)
        if assign is not None and torch.equal(new, assign):
            break
        assign = new
        onehot = F.one_hot(assign, k).float()  # B, N, k
        counts = onehot.sum(1)  # B, k
        sums = onehot.transpose(1, 2) @ x  # B, k, D
        centres = torch.where(counts[..., None] > 0, sums / counts.clamp(min=1)[..., None],
                              centres)
    return assign, centres


def region_descriptors(feats: torch.Tensor, assign: torch.Tensor, k: int) -> torch.Tensor:
    """Mean feature per segment: ``feats (B, N, D)``, ``assign (B, N)`` -> ``(B, k, D)``
    (zeros for an empty segment)."""
    onehot = F.one_hot(assign, k).float()
    return (onehot.transpose(1, 2) @ feats.float()) / onehot.sum(1).clamp(min=1)[..., None]


def majority_labels(segments: np.ndarray, gt: np.ndarray, k: int, num_classes: int,
                    ignore_index: int = 255) -> np.ndarray:
    """Majority ground-truth class of each of the ``k`` segments (``-1`` if it covers no labelled
    pixel); ties go to the smaller class id."""
    valid = gt != ignore_index
    if (gt[valid] >= num_classes).any():
        raise ValueError(f'label {int(gt[valid].max())} >= num_classes={num_classes}')
    hist = np.bincount(segments[valid].astype(np.int64) * num_classes + gt[valid],
                       minlength=k * num_classes).reshape(k, num_classes)
    return np.where(hist.sum(1) > 0, hist.argmax(1), -1)


def nearest_labels(query: torch.Tensor, bank: torch.Tensor, bank_labels: torch.Tensor,
                   chunk: int = 4096) -> torch.Tensor:
    """Label of the nearest (cosine) bank descriptor for each query descriptor."""
    bank = F.normalize(bank.float(), dim=1)
    out = []
    for q in F.normalize(query.float(), dim=1).split(chunk):
        out.append(bank_labels[(q @ bank.T).argmax(1)])
    return torch.cat(out) if out else bank_labels.new_zeros(0)


def upsample_segments(assign: np.ndarray, size) -> np.ndarray:
    """``(h, w)`` segment map -> ``(H, W)`` by nearest-neighbour resizing."""
    t = torch.from_numpy(assign.astype(np.int64))[None, None].float()
    return F.interpolate(t, size=tuple(size), mode='nearest')[0, 0].long().numpy()


def confusion(pred: np.ndarray, gt: np.ndarray, num_classes: int,
              ignore_index: int = 255) -> np.ndarray:
    valid = gt != ignore_index
    return np.bincount(gt[valid].astype(np.int64) * num_classes + pred[valid],
                       minlength=num_classes ** 2).reshape(num_classes, num_classes)


def mean_iou(conf: np.ndarray) -> Tuple[float, np.ndarray]:
    """mIoU (percent) over the classes present in ground truth or prediction, and per-class IoU
    (NaN for absent classes), as mmseg's ``IoUMetric``."""
    inter = np.diag(conf).astype(np.float64)
    union = conf.sum(0) + conf.sum(1) - inter
    with np.errstate(invalid='ignore', divide='ignore'):
        iou = np.where(union > 0, inter / union, np.nan)
    return 100 * float(np.nanmean(iou)), iou
