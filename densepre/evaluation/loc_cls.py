"""Localisation-only and classification-only views of semantic segmentation (LOCA Tables 3, 7, 9;
appendix B.2).

* Localisation only: a fine-tuned segmentation model is scored "in presence of a class oracle":
  each predicted mask gets the label of the ground-truth mask it has the best IoU with, then the
  usual mIoU. Shapes and positions count, classes do not. A *mask* here is the region an image's
  prediction gives one class (semantic segmentation has no instances); IoUs are taken over the
  scored pixels (ground truth != ignore index); a predicted mask that overlaps no ground-truth
  mask keeps its label.
* Classification only: the segmentation annotations turned into multi-label image labels (the
  classes present), a linear layer with binary cross-entropy on globally average-pooled features
  (frozen backbone: Tables 3 / 7; end-to-end: Table 9), scored by mAP.
"""
import torch


def oracle_relabel(pred: torch.Tensor, gt: torch.Tensor, num_classes: int,
                   ignore_index: int = 255) -> torch.Tensor:
    """Relabel ``pred`` (H, W) class ids: every predicted class mask takes the class of the
    ground-truth mask in ``gt`` (H, W) with which its IoU is largest."""
    if pred.shape != gt.shape:
        raise ValueError(f'prediction {tuple(pred.shape)} and ground truth {tuple(gt.shape)} '
                         'differ in shape')
    pred, gt = pred.long(), gt.long()
    scored = gt != ignore_index
    p, g = pred[scored], gt[scored]
    if pred.numel() and (int(pred.max()) >= num_classes or int(pred.min()) < 0) or g.numel() and (
            int(g.max()) >= num_classes or int(g.min()) < 0):
        raise ValueError(f'class ids must be in [0, {num_classes}) (or {ignore_index} in the '
                         'ground truth)')
    inter = torch.bincount(p * num_classes + g, minlength=num_classes**2).view(
        num_classes, num_classes).double()  # (predicted class, ground-truth class)
    union = inter.sum(1, keepdim=True) + inter.sum(0, keepdim=True) - inter
    iou = inter / union.clamp(min=1)
    best_iou, best = iou.max(1)
    mapping = torch.where(best_iou > 0, best, torch.arange(num_classes))
    return mapping.to(pred.device)[pred]


def multilabel_targets(gt: torch.Tensor, num_classes: int,
                       ignore_index: int = 255) -> torch.Tensor:
    """(num_classes,) float multi-hot vector of the classes present in a label map."""
    present = gt[gt != ignore_index].long().unique()
    if present.numel() and (int(present.max()) >= num_classes or int(present.min()) < 0):
        raise ValueError(f'class ids must be in [0, {num_classes}) (or {ignore_index})')
    out = torch.zeros(num_classes)
    out[present] = 1.
    return out


def mean_average_precision(scores: torch.Tensor, targets: torch.Tensor) -> float:
    """mAP (%) over the classes with at least one positive (mmpretrain's ``AveragePrecision``,
    macro): (N, C) scores, (N, C) {0, 1} targets. Classes absent from the split have no AP."""
    from mmpretrain.evaluation import AveragePrecision
    has_pos = targets.sum(0) > 0
    if not bool(has_pos.any()):
        raise ValueError('no class has a positive image in this split: mAP undefined')
    return float(AveragePrecision.calculate(scores[:, has_pos], targets[:, has_pos]))
