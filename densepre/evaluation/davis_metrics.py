"""DAVIS-2017 semi-supervised J (region similarity) and F (boundary accuracy).

Computed as the official evaluation (github.com/davisvideochallenge/davis2017-evaluation,
``davis2017/metrics.py`` and ``evaluation.py``) does:

* one binary mask per object id ``1..max(id in the first annotated frame)``; void (255) pixels
  count as background in the ground truth and are not excluded (the semi-supervised task passes
  no void mask);
* the first and the last frame of every sequence are left out;
* ``J = |M ∩ G| / |M ∪ G|``, 1 when both masks are empty;
* ``F = 2 P R / (P + R)`` of the 1-px boundary maps (``seg2bmap``) matched within a disk of
  radius ``ceil(0.008 * image diagonal)`` px (cv2 dilation); P = 1, R = 0 when the prediction has
  no boundary and the ground truth has one, P = 0, R = 1 in the opposite case, P = R = 1 when
  neither has one;
* per object: mean (nanmean), recall (fraction of frames > 0.5) and decay over 4 temporal bins;
  the dataset numbers average over all objects of all sequences, ``J&F-Mean = (J-Mean +
  F-Mean) / 2``. Reported in percent.
"""
import warnings
from typing import Dict, List, Optional, Sequence

import cv2
import numpy as np
from mmengine.evaluator import BaseMetric

from densepre.registry import METRICS

#: The official boundary tolerance, as a fraction of the image diagonal.
BOUND_TH = 0.008


def region_similarity(gt: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """J of binary masks ``(..., H, W)`` -> ``(...)``; 1 where both are empty."""
    if gt.shape != pred.shape:
        raise ValueError(f'annotation {gt.shape} and prediction {pred.shape} differ in shape')
    gt, pred = gt.astype(bool), pred.astype(bool)
    inter = (gt & pred).sum(axis=(-2, -1))
    union = (gt | pred).sum(axis=(-2, -1))
    return np.where(union == 0, 1.0, inter / np.maximum(union, 1))


def seg_boundary(mask: np.ndarray) -> np.ndarray:
    """1-px boundary map of a binary mask (Martin et al.'s ``seg2bmap`` at the mask's size):
    a pixel is on the boundary if it differs from its right, lower or lower-right neighbour."""
    seg = mask.astype(bool)
    e, s, se = (np.zeros_like(seg) for _ in range(3))
    e[:, :-1] = seg[:, 1:]
    s[:-1, :] = seg[1:, :]
    se[:-1, :-1] = seg[1:, 1:]
    b = seg ^ e | seg ^ s | seg ^ se
    b[-1, :] = seg[-1, :] ^ e[-1, :]
    b[:, -1] = seg[:, -1] ^ s[:, -1]
    b[-1, -1] = False
    return b


def disk(radius: int) -> np.ndarray:
    """``skimage.morphology.disk``: the uint8 ``(2r+1, 2r+1)`` mask of ``x^2 + y^2 <= r^2``."""
    r = int(radius)
    yy, xx = np.mgrid[-r:r + 1, -r:r + 1]
    return (xx * xx + yy * yy <= r * r).astype(np.uint8)


def boundary_tolerance(shape: Sequence[int], bound_th: float = BOUND_TH) -> int:
    """Matching radius in px: ``bound_th`` itself if >= 1, else ``ceil(bound_th * diagonal)``."""
    return int(bound_th if bound_th >= 1 else np.ceil(bound_th * np.linalg.norm(shape[:2])))


def boundary_f_measure(gt: np.ndarray, pred: np.ndarray, bound_th: float = BOUND_TH) -> float:
    """F of one ``(H, W)`` frame (see the module docstring)."""
    if gt.shape != pred.shape:
        raise ValueError(f'annotation {gt.shape} and prediction {pred.shape} differ in shape')
    kernel = disk(boundary_tolerance(gt.shape, bound_th))
    fg_b, gt_b = seg_boundary(pred), seg_boundary(gt)
    fg_dil = cv2.dilate(fg_b.astype(np.uint8), kernel).astype(bool)
    gt_dil = cv2.dilate(gt_b.astype(np.uint8), kernel).astype(bool)
    n_fg, n_gt = int(fg_b.sum()), int(gt_b.sum())
    if n_fg == 0 and n_gt > 0:
        precision, recall = 1.0, 0.0
    elif n_fg > 0 and n_gt == 0:
        precision, recall = 0.0, 1.0
    elif n_fg == 0 and n_gt == 0:
        precision, recall = 1.0, 1.0
    else:
        precision = float((fg_b & gt_dil).sum()) / n_fg
        recall = float((gt_b & fg_dil).sum()) / n_gt
    if precision + recall == 0:
        return 0.0
    return 2 * precision * recall / (precision + recall)


def frame_statistics(values: np.ndarray) -> Dict[str, float]:
    """Mean, recall (> 0.5) and decay (first minus last of 4 temporal bins) of per-frame values
    (official ``db_statistics``)."""
    values = np.asarray(values, np.float64)
    ids = (np.round(np.linspace(1, len(values), 5) + 1e-10) - 1).astype(np.int64)
    bins = [values[ids[i]:ids[i + 1] + 1] for i in range(4)]
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', RuntimeWarning)  # nanmean of an all-NaN bin
        return dict(M=float(np.nanmean(values)), R=float(np.nanmean(values > 0.5)),
                    D=float(np.nanmean(bins[0]) - np.nanmean(bins[3])))


def evaluate_sequence(gt: np.ndarray, pred: np.ndarray, bound_th: float = BOUND_TH,
                      name: str = 'sequence') -> List[Dict[str, float]]:
    """Per-object J / F statistics of one sequence.

    Args:
        gt: ``(T, H, W)`` annotated object ids (0 = background, 255 = void), frame 0 = the given
            first-frame annotation.
        pred: ``(T, H, W)`` predicted object ids (frame 0 and the last frame are not scored).

    Returns:
        one dict per object: ``object``, ``J`` and ``F`` statistics (``M``, ``R``, ``D``).
    """
    gt, pred = np.asarray(gt), np.asarray(pred)
    if gt.shape != pred.shape:
        raise ValueError(f'{name}: annotations {gt.shape} and predictions {pred.shape} differ')
    if gt.ndim != 3 or len(gt) < 3:
        raise ValueError(f'{name}: expected (T >= 3, H, W) masks, got {gt.shape}')
    gt = np.where(gt == 255, 0, gt)
    num_objects = int(gt[0].max())
    if int(pred.max()) > num_objects:
        raise ValueError(f'{name}: the prediction holds object id {int(pred.max())}, the first '
                         f'frame annotates {num_objects} objects')
    gt, pred = gt[1:-1], pred[1:-1]
    out = []
    for obj in range(1, num_objects + 1):
        g, p = gt == obj, pred == obj
        j = region_similarity(g, p)
        f = np.array([boundary_f_measure(g[t], p[t], bound_th) for t in range(len(g))])
        out.append(dict(object=f'{name}_{obj}', J=frame_statistics(j), F=frame_statistics(f)))
    return out


def summarize_objects(objects: Sequence[Dict]) -> Dict[str, float]:
    """Dataset numbers (percent) from per-object statistics, as ``evaluation_method.py``."""
    if not objects:
        raise ValueError('no objects to evaluate')
    res = {}
    for m in ('J', 'F'):
        for stat, name in (('M', 'Mean'), ('R', 'Recall'), ('D', 'Decay')):
            res[f'{m}-{name}'] = 100 * float(np.mean([o[m][stat] for o in objects]))
    res['J&F-Mean'] = (res['J-Mean'] + res['F-Mean']) / 2
    return res


@METRICS.register_module()
class DavisJF(BaseMetric):
    """DAVIS-2017 semi-supervised J&F as an MMEngine metric.

    Each data sample is a dict with ``sequence`` (name), ``gt_masks`` and ``pred_masks``
    (``(T, H, W)`` object ids of the whole sequence, first frame included). ``compute_metrics``
    returns ``J&F-Mean``, ``J-Mean``, ``J-Recall``, ``J-Decay``, ``F-Mean``, ``F-Recall``,
    ``F-Decay`` in percent (``davis/`` prefix through ``evaluate``).
    """
    default_prefix: Optional[str] = 'davis'

    def __init__(self, bound_th: float = BOUND_TH, collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.bound_th = bound_th

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        for sample in data_samples:
            self.results.extend(evaluate_sequence(sample['gt_masks'], sample['pred_masks'],
                                                  self.bound_th, sample['sequence']))

    def compute_metrics(self, results: list) -> Dict[str, float]:
        return summarize_objects(results)
