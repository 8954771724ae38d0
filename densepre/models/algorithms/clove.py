"""CLoVE, "Self-supervised Learning of Contextualized Local Visual Embeddings" (ICCV-W 2023).

The online network (encoder f, per-pixel projector g, NMHSA predictor q) turns every view into a
map of contextualised embeddings ``C = q(g(f(x)))``; the target network (an EMA of f and g, no
attention) turns the *global* views into maps of local embeddings ``F = g'(f'(x))``. Cells of an
online map and of a target map are matched by the distance of their centres in the original
image (Eq. 1, pixel-to-neighbourhood matching) and ``C`` is trained to predict the matched ``F``
with the margin ranking loss of Eq. 2 and intra-image hard negatives.

Views: 2 global + N local (any N ≥ 0, from the data pipeline's ``'local'`` group). Each global
target is paired with the other global view and with every local view; views of one size go
through the online network in one pass, the global views through the target in one pass.

Negatives (CLoVE Table 10): intra-image by default — per query cell, hard negatives among the
non-matching cells of the target map of the same image; ``negative_queue`` switches to a queue of
16384 target representations of past images (``'inter'``: one random target cell per image and
global view; ``'inter_avg'``: the average of the target map), searched with the same top-k rule.
"""
from collections import OrderedDict
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn as nn
from mmpretrain.models import BaseSelfSupervisor

from densepre.registry import MODELS
from ..utils.correspondence import cell_distances, stack_geometries
from ..utils.ema import EMATeacher
from ..utils.feature_queue import FeatureQueue
from ..utils.multiview import MultiViewBatch


def neighbourhood_positives(geom_q: torch.Tensor, hw_q: Tuple[int, int], geom_t: torch.Tensor,
                            hw_t: Tuple[int, int], pos_threshold: float) -> torch.Tensor:
    """Pixel-to-neighbourhood matching (CLoVE Eq. 1): cell i of the query view and cell j of the
    target view match when their centres, in original-image pixels, are closer than
    ``pos_threshold`` times the larger of the two views' cell diagonals.

    Args:
        geom_q, geom_t: (..., 8) view geometries (same leading dims, e.g. batch × view pairs).
        hw_q, hw_t: the two feature-map sizes (any pair, e.g. 3×3 local vs 7×7 global).

    Returns:
        (..., hq·wq, ht·wt) bool, row-major cells.
    """
    return cell_distances(geom_q, hw_q, geom_t, hw_t) < pos_threshold


@MODELS.register_module()
class CLoVE(BaseSelfSupervisor):
    """CLoVE (see the module docstring).

    Args:
        backbone (dict): encoder f (ResNet C5). neck (dict): per-pixel projector g
            (:class:`PixelProjector`). predictor (dict): q (:class:`NMHSAPredictor`).
        loss (dict): :class:`ContextRankingLoss` (Eq. 2) or its ℓ2 variant.
        pos_threshold (float): T_pos of Eq. 1 (0.7; Table 11 sweeps 0.5–0.9).
        base_momentum (float): ``1 − τ_base`` of the EMA target (0.01 for CLoVE's 0.99), annealed
            (cosine) to ``end_momentum`` (0: τ → 1).
        teacher_buffers (str): :class:`EMATeacher` buffer policy. ``'copy'``: the target runs in
            train mode with batch statistics, as the released code's momentum encoder does.
        ema_interval (int): average the target every ``ema_interval`` loss calls. With gradient
            accumulation over n steps, n gives one EMA update per optimizer step, as the released
            code does (it passes the momentum only on the accumulation's last step). Default 1.
        global_group, local_group (str): GeoMultiView group names of the global (target) and
            local views. The local group may be absent (N = 0).
        negative_queue (dict, optional): ``dict(strategy='inter' | 'inter_avg', length=16384,
            dim=256)`` for the queue negatives of Table 10; None (default): intra-image negatives.
    """

    QUEUE_STRATEGIES = ('inter', 'inter_avg')

    def __init__(self,
                 backbone: dict,
                 neck: dict,
                 predictor: dict,
                 loss: dict,
                 pos_threshold: float = 0.7,
                 base_momentum: float = 0.01,
                 end_momentum: float = 0.,
                 teacher_buffers: str = 'copy',
                 ema_interval: int = 1,
                 global_group: str = 'global',
                 local_group: str = 'local',
                 negative_queue: Optional[dict] = None,
                 pretrained: Optional[str] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        if isinstance(neck, dict):  # densepre's registry whatever the default scope
            neck = MODELS.build(neck)
        super().__init__(backbone=backbone, neck=neck, pretrained=pretrained,
                         data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        if pos_threshold <= 0:
            raise ValueError(f'CLoVE pos_threshold must be > 0, got {pos_threshold}')
        self.predictor = MODELS.build(predictor)
        self.loss_module = MODELS.build(loss)
        self.pos_threshold = float(pos_threshold)
        self.global_group, self.local_group = global_group, local_group
        self.queue_strategy = None
        if negative_queue is not None:
            negative_queue = dict(negative_queue)
            self.queue_strategy = negative_queue.pop('strategy', None)
            if self.queue_strategy not in self.QUEUE_STRATEGIES:
                raise ValueError(f'CLoVE negative_queue strategy must be one of '
                                 f'{self.QUEUE_STRATEGIES}, got {self.queue_strategy!r}')
            self.negative_queue = FeatureQueue(**negative_queue)
        self.target_net = EMATeacher(self.online_modules(), momentum=base_momentum,
                                     end_momentum=end_momentum, buffers=teacher_buffers,
                                     interval=ema_interval)

    # ------------------------------------------------------------------ networks
    def online_modules(self) -> Dict[str, nn.Module]:
        """The online modules the target averages: encoder + projector (no attention)."""
        return OrderedDict(backbone=self.backbone, neck=self.neck)

    def extract_feat(self, inputs: torch.Tensor):
        return self.backbone(inputs)

    def online_maps(self, img: torch.Tensor) -> torch.Tensor:
        """Contextualised embeddings C = q(g(f(x))): (B, D, h, w)."""
        return self.predictor(self.neck(self.backbone(img)))

    @torch.no_grad()
    def attention(self, img: torch.Tensor) -> torch.Tensor:
        """NMHSA attention of the online network: (B, heads, h, w, h, w) — entry
        ``[b, k, r, c]`` is the map of weights cell ``(r, c)`` gives every cell (Sec. 3.4)."""
        proj = self.neck(self.backbone(img))
        _, attn = self.predictor(proj, return_attention=True)
        h, w = proj.shape[-2:]
        return attn.view(*attn.shape[:2], h, w, h, w)

    @torch.no_grad()
    def target_maps(self, img: torch.Tensor) -> torch.Tensor:
        """Target local embeddings F = g'(f'(x)): (B, D, h, w)."""
        return self.target_net['neck'](self.target_net['backbone'](img))

    # ------------------------------------------------------------------ loss
    def view_pairs(self, batch: MultiViewBatch) -> Tuple[List[int], List[int]]:
        """Target (global) view indices and online view indices (global + local)."""
        targets = batch.indices(self.global_group)
        if len(targets) != 2:
            raise ValueError(f'CLoVE needs 2 views in the "{self.global_group}" group, got '
                             f'{len(targets)} (groups {batch.groups})')
        groups = [self.global_group]
        if self.local_group in batch.groups:
            groups.append(self.local_group)
        return targets, batch.indices(*groups)

    def loss(self, inputs: List[torch.Tensor], data_samples: list,
             **kwargs) -> Dict[str, torch.Tensor]:
        batch = MultiViewBatch(inputs, data_samples)
        target_idx, online_idx = self.view_pairs(batch)
        geoms = stack_geometries(data_samples, trackable=True).to(inputs[0].device)  # (B, V, 8)

        online = batch.forward(self.online_maps, *dict.fromkeys(batch.groups[i]
                                                                for i in online_idx))
        with torch.no_grad():
            self.target_net.update(self.online_modules())
            target = batch.forward(self.target_maps, self.global_group)
        tgt = torch.stack([target[i].flatten(2).transpose(1, 2) for i in target_idx], 1)
        hw_t = tuple(target[target_idx[0]].shape[-2:])
        negatives = None
        if self.queue_strategy is not None:
            negatives = self.negative_queue.queue.t().unsqueeze(0).clone()  # before enqueueing

        # online views grouped by map size: one matching op and one loss call per size
        by_size: Dict[Tuple[int, int], List[int]] = {}
        for i in online_idx:
            by_size.setdefault(tuple(online[i].shape[-2:]), []).append(i)
        losses, valid, matches = [], [], []
        for hw_q, idx in by_size.items():
            # view pairs (target a, online b) with a different view
            ta, ob = zip(*[(a, b) for a, t in enumerate(target_idx) for b, o in enumerate(idx)
                           if t != o])
            ta, ob = list(ta), list(ob)
            pred = torch.stack([online[i].flatten(2).transpose(1, 2) for i in idx], 1)[:, ob]
            geom_q = geoms[:, idx][:, ob]
            geom_t = geoms[:, target_idx][:, ta]
            positive = neighbourhood_positives(geom_q, hw_q, geom_t, hw_t, self.pos_threshold)
            loss, ok = self.loss_module(pred.flatten(0, 1), tgt[:, ta].flatten(0, 1),
                                        positive.flatten(0, 1), negatives=negatives)
            losses.append(loss)
            valid.append(ok)
            matches.append(positive.flatten(0, 1).sum((1, 2)).float())
        if self.queue_strategy is not None:
            self.enqueue_targets(tgt.detach())
        loss, valid = torch.cat(losses), torch.cat(valid).to(losses[0].dtype)
        return dict(loss=(loss * valid).sum() / valid.sum().clamp(min=1),
                    matches_per_pair=torch.cat(matches).mean())

    @torch.no_grad()
    def enqueue_targets(self, tgt: torch.Tensor) -> None:
        """Store one representation per image and global view (B·2 per step) in the queue:
        a random target cell (``'inter'``) or the average of the target map's unit cells
        (``'inter_avg'``), L2-normalised. tgt: (B, G, L, D)."""
        tgt = nn.functional.normalize(tgt, dim=-1)
        b, g, n, d = tgt.shape
        if self.queue_strategy == 'inter':
            cell = torch.randint(n, (b, g, 1, 1), device=tgt.device).expand(-1, -1, 1, d)
            feats = tgt.gather(2, cell).squeeze(2)
        else:
            feats = tgt.mean(2)
        self.negative_queue.enqueue(nn.functional.normalize(feats.flatten(0, 1), dim=-1))
