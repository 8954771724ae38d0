"""CLoVE's loss between contextualised predictions and geometry-matched target cells."""
from typing import Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from densepre.registry import MODELS

LOSS_TYPES = ('ranking', 'l2')
NEGATIVE_MODES = ('mean_feature', 'mean_similarity')
REDUCTIONS = ('pair', 'image')


def hard_negatives(pred: torch.Tensor, candidates: torch.Tensor, allowed: Optional[torch.Tensor],
                   topk: int, mode: str) -> Tuple[torch.Tensor, torch.Tensor]:
    """Similarity of every query cell to its hard negative (CLoVE Sec. 3.3, after Wang et al.).

    Per query cell: the ``topk`` allowed candidates most similar to it, the most similar one
    dropped (it may be a false negative), the rest averaged — as vectors (``'mean_feature'``,
    the paper: ``σ(C_i, F_neg)`` with ``F_neg`` the mean of the unit candidate vectors) or as
    similarities (``'mean_similarity'``, the released code).

    Args:
        pred: (P, Lq, D) unit query vectors. candidates: (P or 1, N, D) unit candidate vectors.
        allowed: (P, Lq, N) bool, False for positives (never a negative); None: all allowed.

    Returns:
        (P, Lq) negative similarity (0 where there is none) and (P, Lq) bool "has a negative":
        False when fewer than two allowed candidates exist (nothing is left after dropping the
        most similar).
    """
    sim = pred @ candidates.transpose(-2, -1)
    k = min(topk, sim.shape[-1])
    if allowed is not None:
        sim = sim.masked_fill(~allowed, float('-inf'))
    vals, idx = sim.topk(k, dim=-1)
    vals, idx = vals[..., 1:], idx[..., 1:]  # drop the most similar
    valid = torch.isfinite(vals)
    count = valid.sum(-1)
    has_neg = count > 0
    if mode == 'mean_similarity':
        neg = vals.masked_fill(~valid, 0.).sum(-1) / count.clamp(min=1)
    else:
        weights = torch.zeros_like(sim).scatter_(
            -1, idx, valid.to(sim.dtype) / count.clamp(min=1).unsqueeze(-1).to(sim.dtype))
        f_neg = weights @ candidates.to(weights.dtype)  # (P, Lq, D): mean of the chosen vectors
        neg = (pred * F.normalize(f_neg, dim=-1)).sum(-1)
    return neg.masked_fill(~has_neg, 0.), has_neg


@MODELS.register_module()
class ContextRankingLoss(nn.Module):
    """Margin ranking loss of CLoVE Eq. 2 over geometry-matched (query, target) cell pairs::

        ℓ = max(0, −λ·σ(C_i, F_j) + σ(C_i, F_neg) + μ),    (i, j) ∈ M

    averaged over the matched pairs M of a view pair (Eq. 2 sums them; the mean keeps the scale
    independent of the number of matches). σ is the cosine similarity, scaled by
    ``similarity_scale``.

    Args:
        lambda_pos (float): λ. Released default 2 (the paper gives no value).
        margin (float): μ. Paper and release: 100, with which the hinge never turns off (|σ| ≤ 1,
            so the argument is always ≥ 100 − λ − 1 > 0): the loss is then linear in the
            similarities.
        topk (int): k hard-negative candidates per query cell (10).
        negative (str): ``'mean_feature'`` (paper) or ``'mean_similarity'`` (released code).
        reduction (str): ``'pair'`` — hinge per matched pair, mean over M (paper Eq. 2);
            ``'image'`` — the released code: hinge of (mean positive similarity over M, mean
            negative similarity over all query cells) per view pair.
        similarity_scale (float): 1 (paper); the released code compares ``2·cos`` (its logits
            are ``−2·q·k``), i.e. 2.
        loss_type (str): ``'ranking'`` (Eq. 2) or ``'l2'`` — BYOL's normalised MSE
            ``2 − 2·σ(C_i, F_j)`` over M (CLoVE Table 8; no negatives).
    """

    def __init__(self,
                 lambda_pos: float = 2.0,
                 margin: float = 100.0,
                 topk: int = 10,
                 negative: str = 'mean_feature',
                 reduction: str = 'pair',
                 similarity_scale: float = 1.0,
                 loss_type: str = 'ranking') -> None:
        super().__init__()
        for name, value, choices in (('loss_type', loss_type, LOSS_TYPES),
                                     ('negative', negative, NEGATIVE_MODES),
                                     ('reduction', reduction, REDUCTIONS)):
            if value not in choices:
                raise ValueError(f'ContextRankingLoss {name} must be one of {choices}, '
                                 f'got {value!r}')
        if topk < 2:
            raise ValueError(f'ContextRankingLoss topk must be >= 2 (the most similar of the '
                             f'top-k is dropped), got {topk}')
        self.lambda_pos, self.margin, self.topk = float(lambda_pos), float(margin), int(topk)
        self.negative, self.reduction, self.loss_type = negative, reduction, loss_type
        self.similarity_scale = float(similarity_scale)

    def forward(self, pred: torch.Tensor, target: torch.Tensor, positive: torch.Tensor,
                negatives: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, torch.Tensor]:
        """Loss of each of P view pairs.

        Args:
            pred: (P, Lq, D) contextualised online cells C. target: (P, Lt, D) target cells F.
            positive: (P, Lq, Lt) bool, the matches M.
            negatives: optional (P or 1, N, D) negative candidates replacing the target cells
                (queue strategies of CLoVE Table 10); all of them are allowed.

        Returns:
            (P,) losses and (P,) bool: the view pair contributes (it has matches, or the
            ``'image'`` reduction, which counts every view pair as the released code does).
        """
        # AMP: the normalisations, similarities and top-k in fp32 (autocast would run the
        # matrix products in fp16/bf16 even on fp32 inputs), as the released code does
        dtype = torch.promote_types(pred.dtype, torch.float32)
        with torch.autocast(pred.device.type, enabled=False):
            return self._loss(pred.to(dtype), target.to(dtype), positive,
                              None if negatives is None else negatives.to(dtype))

    def _loss(self, pred: torch.Tensor, target: torch.Tensor, positive: torch.Tensor,
              negatives: Optional[torch.Tensor]) -> Tuple[torch.Tensor, torch.Tensor]:
        pred, target = F.normalize(pred, dim=-1), F.normalize(target, dim=-1)
        sim = pred @ target.transpose(-2, -1)  # (P, Lq, Lt)
        pos = positive.to(sim.dtype)
        num_pos = pos.sum((1, 2))
        s = self.similarity_scale
        if self.loss_type == 'l2':
            loss = ((2 - 2 * sim) * pos).sum((1, 2)) / num_pos.clamp(min=1)
            return loss, num_pos > 0
        if negatives is None:
            neg, _ = hard_negatives(pred, target, ~positive, self.topk, self.negative)
        else:
            cand = F.normalize(negatives, dim=-1)
            neg, _ = hard_negatives(pred, cand, None, self.topk, self.negative)
        if self.reduction == 'pair':
            hinge = F.relu(-self.lambda_pos * s * sim + s * neg.unsqueeze(-1) + self.margin)
            return (hinge * pos).sum((1, 2)) / num_pos.clamp(min=1), num_pos > 0
        pos_mean = (sim * pos).sum((1, 2)) / (num_pos + 1e-6)
        loss = F.relu(-self.lambda_pos * s * pos_mean + s * neg.mean(-1) + self.margin)
        return loss, torch.ones_like(loss, dtype=torch.bool)
