"""VOC07 linear SVMs on frozen features: the protocol of Goyal et al. (ICCV 2019, "Scaling and
Benchmarking Self-Supervised Visual Representation Learning"; github.com/facebookresearch/
fair_self_supervision_benchmark ``tools/svm``), used by MoCo / PIRL / DenseCL and beside the
logistic-regression probe by Revisiting-Contrastive.

* features L2-normalised (``x / (|x| + 1e-5)``);
* one binary SVM per class, sklearn ``LinearSVC(C, class_weight={1: 2, -1: 1}, loss=
  'squared_hinge', penalty='l2', intercept_scaling=1)``, i.e. the primal

      min_{w, b}  (|w|^2 + b^2) / 2 + C * sum_i c_i * max(0, 1 - y_i (w.x_i + b))^2,

  ``c_i = 2`` for positives and 1 for negatives (liblinear regularises the bias, which it treats as
  a feature of constant value ``intercept_scaling``). The objective is strictly convex and
  differentiable; it is minimised here with L-BFGS in float64 for all classes at once (it is
  separable over classes), which reaches the same optimum liblinear's dual coordinate descent does;
* the cost ``C`` per class by 3-fold cross-validation on trainval (sklearn ``StratifiedKFold(3)``
  folds without shuffling, scored by sklearn's ``average_precision``) over the costs
  ``1e-7, 1e-6, ..., 100`` and ``0.5^4 .. 0.5^19`` (26 values); the SVM with the best cost is refit
  on all of trainval and scored on test by the benchmark's AP (area under the interpolated
  precision-recall curve); mAP over classes.

"Difficult" images (label 0) of a class are never scored. Two protocols differ in training:

* ``fair`` (the benchmark, ``extra_scripts/create_voc_data_files.py`` + ``tools/svm/
  train_svm_kfold.py``): difficult images are negatives in training and cross-validation (the
  data files mark them -1, which training turns into the negative label); the folds are those of
  sklearn >= 0.22's ``StratifiedKFold``, which numbers the classes by first appearance in ``y``;
* ``probe`` (densepre's earlier default): difficult images are left out of training and
  cross-validation, the fold classes are numbered in sorted order.
"""
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

#: The benchmark's cost list (``--costs_list`` of its VOC07 command + ``0.5 ** (4..19)``).
COSTS = tuple([1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 0.1, 1.0, 10.0, 100.0] +
              [0.5 ** n for n in range(4, 20)])
POSITIVE_WEIGHT = 2.0


def normalize_features(x: torch.Tensor) -> torch.Tensor:
    return x / (x.norm(dim=1, keepdim=True) + 1e-5)


def fit_svm(x: torch.Tensor, y: torch.Tensor, c: torch.Tensor, mask: Optional[torch.Tensor] = None,
            positive_weight: float = POSITIVE_WEIGHT, max_iter: int = 500,
            init: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, torch.Tensor]:
    """L2-regularised squared-hinge SVMs, one per column (module docstring).

    Args:
        x: ``(N, D)`` features. y: ``(N, K)`` in {1, -1}. c: ``(K,)`` cost per class.
        mask: ``(N, K)`` bool, the entries that count (default all).

    Returns:
        ``w (D, K)``, ``b (K,)`` (float64).
    """
    x = x.double()
    n, d = x.shape
    k = y.shape[1]
    y = y.double()
    weight = torch.where(y > 0, positive_weight, 1.0).double()
    if mask is not None:
        weight = weight * mask.double()
    c = torch.as_tensor(c, dtype=torch.float64).expand(k)
    xb = torch.cat([x, torch.ones(n, 1, dtype=torch.float64)], 1)  # bias as a feature
    theta = (torch.zeros(d + 1, k, dtype=torch.float64) if init is None else init.clone())
    theta.requires_grad_(True)
    opt = torch.optim.LBFGS([theta], lr=1, max_iter=max_iter, history_size=20,
                            tolerance_grad=1e-10, tolerance_change=1e-14,
                            line_search_fn='strong_wolfe')
    # each class's objective divided by its C (same minimiser, better conditioned for tiny C)
    scale = 1 / c

    def closure():
        opt.zero_grad()
        margin = (1 - y * (xb @ theta)).clamp(min=0)
        obj = ((margin * margin * weight).sum(0) + scale * (theta * theta).sum(0) / 2).sum()
        obj.backward()
        return obj

    opt.step(closure)
    theta = theta.detach()
    return theta[:-1], theta[-1]


PROTOCOLS = ('fair', 'probe')


def stratified_folds(y: np.ndarray, n_splits: int = 3, class_order: str = 'sorted') -> np.ndarray:
    """Fold index per sample of sklearn's ``StratifiedKFold(n_splits, shuffle=False)``.

    Each class's samples get consecutive folds, as many per fold as a round robin over the
    class-sorted labels allocates. ``class_order``: how the classes are numbered for that round
    robin -- ``'appearance'`` (sklearn >= 0.22: by first appearance in ``y``) or ``'sorted'``.
    """
    classes, first, y_enc = np.unique(y, return_index=True, return_inverse=True)
    if class_order == 'appearance':
        y_enc = np.argsort(np.argsort(first))[y_enc]
    elif class_order != 'sorted':
        raise ValueError(f'class_order must be "appearance" or "sorted", got {class_order!r}')
    if np.bincount(y_enc).max() < n_splits:
        raise ValueError(f'{len(y)} samples cannot fill {n_splits} stratified folds')
    y_order = np.sort(y_enc)
    allocation = np.asarray([np.bincount(y_order[i::n_splits], minlength=len(classes))
                             for i in range(n_splits)])
    folds = np.empty(len(y), dtype=np.int64)
    for k in range(len(classes)):
        folds[y_enc == k] = np.arange(n_splits).repeat(allocation[:, k])
    return folds


def average_precision(scores: np.ndarray, positive: np.ndarray) -> float:
    """sklearn's ``average_precision_score``: sum over thresholds of ``(R_n - R_{n-1}) P_n``."""
    if not positive.any():
        return 0.0  # no positive in the fold (sklearn warns; counts as 0 here)
    order = np.argsort(-scores, kind='mergesort')
    s, p = scores[order], positive[order].astype(np.float64)
    last = np.r_[np.nonzero(np.diff(s))[0], len(s) - 1]  # last index of each distinct score
    tp = np.cumsum(p)[last]
    fp = (last + 1) - tp
    precision = tp / (tp + fp)
    recall = tp / max(p.sum(), 1)
    return float(np.sum(np.diff(np.r_[0, recall]) * precision))


def interpolated_ap(scores: np.ndarray, positive: np.ndarray) -> float:
    """The benchmark's test AP: area under the precision envelope (``calculate_ap``)."""
    order = np.argsort(scores)[::-1]
    tp = np.cumsum(positive[order].astype(np.float64))
    fp = np.cumsum(1 - positive[order].astype(np.float64))
    rec, prec = tp / max(positive.sum(), 1), tp / (tp + fp)
    mrec, mpre = np.r_[0, rec, 1], np.r_[0, prec, 0]
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    idx = np.nonzero(mrec[1:] != mrec[:-1])[0] + 1
    return float(np.sum((mrec[idx] - mrec[idx - 1]) * mpre[idx]))


def svm_protocol(x_trainval: torch.Tensor, y_trainval: torch.Tensor, x_test: torch.Tensor,
                 y_test: torch.Tensor, costs: Sequence[float] = COSTS, n_splits: int = 3,
                 max_iter: int = 500,
                 protocol: str = 'fair') -> Tuple[Dict[str, float], List[dict]]:
    """Cost selection by cross-validation, refit, test (module docstring).

    Args:
        y_*: ``(N, K)`` labels in {1 (present), 0 (difficult), -1 (absent)}.
        protocol: ``'fair'`` (difficult = negative in training, sklearn >= 0.22 folds) or
            ``'probe'`` (difficult left out of training, sorted-class folds).

    Returns:
        metrics (``mAP`` in percent, ``num_scored_classes``) and the per-class cost search.
    """
    xtr, xte = normalize_features(x_trainval.double()), normalize_features(x_test.double())
    if protocol not in PROTOCOLS:
        raise ValueError(f'protocol must be one of {PROTOCOLS}, got {protocol!r}')
    ytr = y_trainval.numpy().astype(np.int64)
    if protocol == 'fair':
        ytr = np.where(ytr == 0, -1, ytr)  # difficult: a negative in training
    known = ytr != 0
    k = ytr.shape[1]
    order = 'appearance' if protocol == 'fair' else 'sorted'
    fold = np.full(ytr.shape, -1, np.int64)  # per class, over its training images
    for j in range(k):
        fold[known[:, j], j] = stratified_folds(ytr[known[:, j], j], n_splits, order)
    cv_ap = np.zeros((len(costs), k))
    y_t, fold_t = torch.from_numpy(ytr), torch.from_numpy(fold)
    for f in range(n_splits):
        train_mask = (fold_t != f) & (fold_t >= 0)
        theta = None  # warm start from the next smaller cost (same optimum, fewer iterations)
        for ci in sorted(range(len(costs)), key=lambda i: costs[i]):
            w, b = fit_svm(xtr, y_t, torch.full((k, ), costs[ci]), train_mask,
                           max_iter=max_iter, init=theta)
            theta = torch.cat([w, b[None]])
            scores = (xtr @ w + b).numpy()
            for j in range(k):
                held = fold[:, j] == f
                cv_ap[ci, j] += average_precision(scores[held, j], ytr[held, j] == 1) / n_splits
    best = cv_ap.argmax(0)
    best_c = torch.tensor([costs[i] for i in best], dtype=torch.float64)
    w, b = fit_svm(xtr, y_t, best_c, torch.from_numpy(known), max_iter=max_iter)
    scores = (xte @ w + b).numpy()
    yte = y_test.numpy()
    aps = []
    for j in range(k):
        keep = yte[:, j] != 0
        if (yte[keep, j] == 1).any():
            aps.append(interpolated_ap(scores[keep, j], yte[keep, j] == 1))
    search = [dict(class_index=j, best_C=float(best_c[j]), cv_AP=cv_ap[:, j].tolist())
              for j in range(k)]
    return dict(mAP=100 * float(np.mean(aps)), num_scored_classes=len(aps)), search
