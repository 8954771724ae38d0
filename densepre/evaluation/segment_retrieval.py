"""Semantic segment retrieval on frozen features (Revisiting-Contrastive, Table 6 and appendix A.7).

Each image's dense features are clustered with K-means (K = 15) into segments; a segment's
descriptor is the mean feature of its cells; a train segment is labelled with the majority
ground-truth class of its pixels; every val segment takes the label of its nearest train segment
(1-NN, no weighting), the segment map is resized to the image (nearest) and scored by mIoU.

Table 6 has two columns. Revisiting ran MaskContrast's retrieval code (Van Gansbeke et al., ICCV
2021; github.com/wvangansbeke/Unsupervised-Semantic-Segmentation ``segmentation/retrieval.py``, as
the Revisiting README says) with K-means segments:

* "21 classes": every VOC class, background included (its ``..._21_classes.yml``);
* "7 classes": its ``retrieval_VOCSegmentation_unsupervised_saliency.yml`` -- the 13 other
  classes are remapped to void (255) in the train and val ground truth, and the mIoU is the mean
  IoU of aeroplane, bottle, bus, car, cat, cow and person (background excluded).

Its majority vote (``build_memory_bank``) counts neither background nor void pixels, skips a
segment with no other pixel, and breaks ties towards the larger class id (``max`` over
``(count, class)``): ``vote='maskcontrast'``. densepre's ``vote='majority'`` counts background too
(void ignored, ties to the smaller id), so background segments are retrieved as background.
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


#: VOC class ids (0 = background) of Table 6's "7 classes" column (MaskContrast's retrieval
#: config keeps aeroplane, bottle, bus, car, cat, cow, person).
SEVEN_CLASSES = (1, 5, 6, 7, 8, 10, 15)
VOTES = ('majority', 'maskcontrast')


def keep_classes(gt: np.ndarray, keep, ignore_index: int = 255) -> np.ndarray:
    """Ground truth with every class except background (0) and ``keep`` set to void."""
    out = gt.copy()
    out[(gt != 0) & (gt != ignore_index) & ~np.isin(gt, keep)] = ignore_index
    return out


def majority_labels(segments: np.ndarray, gt: np.ndarray, k: int, num_classes: int,
                    ignore_index: int = 255, vote: str = 'majority') -> np.ndarray:
    """Majority ground-truth class of each of the ``k`` segments, ``-1`` if it has no vote.

    ``vote='majority'``: over its labelled pixels (void ignored), ties to the smaller class id;
    ``'maskcontrast'``: over its pixels that are neither background (0) nor void, ties to the
    larger class id (MaskContrast's ``build_memory_bank``)."""
    if vote not in VOTES:
        raise ValueError(f'vote must be one of {VOTES}, got {vote!r}')
    valid = gt != ignore_index
    if (gt[valid] >= num_classes).any():
        raise ValueError(f'label {int(gt[valid].max())} >= num_classes={num_classes}')
    hist = np.bincount(segments[valid].astype(np.int64) * num_classes + gt[valid],
                       minlength=k * num_classes).reshape(k, num_classes)
    if vote == 'maskcontrast':
        hist[:, 0] = 0
        best = num_classes - 1 - hist[:, ::-1].argmax(1)  # the largest id among the maxima
    else:
        best = hist.argmax(1)
    return np.where(hist.sum(1) > 0, best, -1)


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


def mean_iou_of(conf: np.ndarray, classes) -> float:
    """Mean IoU (percent) of ``classes`` only (a class without any pixel in ground truth or
    prediction counts 0, as MaskContrast's ``SemsegMeter``)."""
    inter = np.diag(conf).astype(np.float64)
    union = conf.sum(0) + conf.sum(1) - inter
    iou = inter / np.maximum(union, 1e-8)
    return 100 * float(np.mean(iou[list(classes)]))


def mean_iou(conf: np.ndarray) -> Tuple[float, np.ndarray]:
    """mIoU (percent) over the classes present in ground truth or prediction, and per-class IoU
    (NaN for absent classes), as mmseg's ``IoUMetric``."""
    inter = np.diag(conf).astype(np.float64)
    union = conf.sum(0) + conf.sum(1) - inter
    with np.errstate(invalid='ignore', divide='ignore'):
        iou = np.where(union > 0, inter / union, np.nan)
    return 100 * float(np.nanmean(iou)), iou
