"""LOCA, "Location-Aware Self-Supervised Transformers for Semantic Segmentation" (Caron, Houlsby,
Schmid, WACV 2024).

Views (named GeoMultiView groups): one ``'reference'`` view encoded by the EMA teacher, and
``'query'`` views encoded by the student — a 224² query whose tokens are randomly dropped to
``query_keep_tokens`` (70 of 196) and 9 focal 96² queries (6x6 patches, fewer tokens than that, so
never dropped). Queries of one size share one backbone pass. With h the patch tracker (query patch
-> reference patch of greatest overlap, −1 outside) and Ω the intersecting query patches::

    L = L_pos + L_cluster + L_me-max
    L_pos     = 1/|Ω| Σ_{j∈Ω} CE(W^T g(Z_q, m(Z_ref, η))_j, h(j))                    (Eq. 2)
    L_cluster = 1/|Ω| Σ_{j∈Ω} CE(Q^T Z̃_q,j / τ_s, SK(softmax(Q^T Z̃_ref / τ_t))_h(j))  (Eq. 1)

``m`` keeps ``N − ⌊ηN⌋`` reference tokens after the encoder (a consecutive run by default). The
reference branch (backbone + cluster head) is an :class:`EMATeacher` of the student's (τ 0.996 →
1, cosine); the cross-attention keys / values are the teacher's reference tokens. Loss dict:
``loss_position``, ``loss_cluster``, ``loss_memax`` (MMEngine sums them), plus
``position_accuracy`` on Ω and ``intersecting`` (the fraction of query patches in Ω).
"""
from collections import OrderedDict
from math import cos, floor, pi
from typing import Dict, List, Optional

import torch
import torch.nn as nn
from mmengine.logging import MessageHub
from mmpretrain.models import BaseSelfSupervisor

from densepre.registry import MODELS
from ..utils.correspondence import stack_geometries
from ..utils.ema import EMATeacher
from ..utils.masking import gather_tokens, num_visible, visible_token_indices
from ..utils.multiview import MultiViewBatch
from ..utils.patch_tracker import query_box_in_reference, track_patches


class OffsetScheduleEMATeacher(EMATeacher):
    """:class:`EMATeacher` whose cosine schedule index is ``k = updates done − offset``.

    densepre's teacher (as mmpretrain's ``CosineEMA``) averages θ_k, the student after ``k``
    optimizer steps, at the start of step ``k`` with ``τ(k)``. The authors' LOCA code averages
    the same θ_k right after optimizer step ``k − 1`` with ``τ(k − 1)``: ``offset=1``. The value
    is computed in float64 (the release's is float32).
    """

    def __init__(self, *args, offset: int = 0, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.offset = int(offset)

    def current_momentum(self) -> float:
        if self.end_momentum is None:
            return self.momentum
        max_iters = MessageHub.get_current_instance().get_info('max_iters')
        if max_iters is None:
            raise RuntimeError('the cosine EMA schedule needs the total number of iterations: '
                               'MessageHub info "max_iters" is not set (the Runner sets it)')
        k = max(int(self.steps) - self.offset, 0)
        annealing = (cos(pi * k / float(max_iters)) + 1) / 2
        return self.end_momentum - (self.end_momentum - self.momentum) * annealing


@MODELS.register_module()
class LOCA(BaseSelfSupervisor):
    """LOCA pretraining of a :class:`~densepre.models.backbones.LOCAViT`.

    Args:
        backbone (dict): ``LOCAViT``.
        position_head (dict): ``LOCAPositionHead`` (None: no position loss, Table 6 "cluster
            only").
        cluster_head (dict): ``LOCAClusterHead`` (None: position loss only, as in Sec. 5.1).
        query_keep_tokens (int): tokens each query keeps after random dropping (70); queries with
            fewer patches keep all.
        reference_mask_ratio (float): η (0.8).
        reference_masking (str): ``'structured'`` (consecutive run) or ``'unstructured'``.
        reference_visible_rounding (str): ``'paper'`` — ``N − ⌊ηN⌋`` visible reference tokens
            (40 of 196 at η = 0.8, the paper's count); ``'release'`` — ``⌊(1 − η)N⌋`` (the
            authors' ``int(0.2 * 196)`` = 39). η = 1 leaves none either way.
        base_momentum / end_momentum (float): ``1 − τ`` of the teacher at the start / end of the
            cosine schedule (0.004 → 0: τ 0.996 → 1).
        momentum_schedule_offset (int): 0 — the averaging of θ_k (the student after k
            optimizer steps) uses τ(k) (densepre's, mmpretrain's ``CosineEMA``); 1 — it uses
            τ(k − 1), as the authors' code (EMA right after each optimizer step, with the
            step's own index). See :class:`OffsetScheduleEMATeacher`.
        position_targets (str): ``'all'`` — every query patch predicts its position (Eq. 2);
            ``'central'`` — only each query's central patch (patch ``(h//2, w//2)``; none when
            token dropping removed it), LOCA Table 5's second row. The cluster loss always uses
            every intersecting patch. Table 5's third row (box regression) is the position
            head's ``output='box'``: loss terms ``loss_box_l1``, ``loss_box_giou`` and the
            metric ``box_iou`` replace ``loss_position`` / ``position_accuracy``.
        cluster_level (str): ``'patch'`` — per-patch cluster targets (Eq. 1); ``'image_gap'``
            — LOCA Table 6b "Image (GAP)": one target per image from the teacher's reference
            tokens averaged (Sinkhorn over the batch of images), predicted by every query from
            its averaged (kept) tokens, as image-level SSL (DINO / MSN) does; every query
            counts, intersecting or not. (Table 6b's class-token row needs a class token,
            which LOCAViT does not have.)
        position_mode (str): ``'query_reference'`` (LOCA); ``'single'`` — LOCA Fig. 4's
            "single" mechanism after Zhai et al.: the reference view alone through the student,
            without position embedding, every block's attention keys / values limited to the
            ``N − ⌊ηN⌋`` unmasked patches, each patch predicting its own position with the
            position head (no reference tokens: its block reduces to the MLP). Position loss
            only; query views are ignored (the single configs load none).
    """

    #: the backbone the paper evaluates (LOCA appendix A.1: the teacher); read by the runner
    #: into each checkpoint's meta and by densepre.transfer.checkpoint.extract_backbone
    reported_weights = 'teacher'

    def __init__(self,
                 backbone: dict,
                 position_head: Optional[dict] = None,
                 cluster_head: Optional[dict] = None,
                 query_keep_tokens: int = 70,
                 reference_mask_ratio: float = 0.8,
                 reference_masking: str = 'structured',
                 reference_visible_rounding: str = 'paper',
                 base_momentum: float = 0.004,
                 end_momentum: float = 0.,
                 momentum_schedule_offset: int = 0,
                 position_targets: str = 'all',
                 cluster_level: str = 'patch',
                 position_mode: str = 'query_reference',
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(backbone=backbone, data_preprocessor=data_preprocessor,
                         init_cfg=init_cfg)
        if position_head is None and cluster_head is None:
            raise ValueError('LOCA needs a position_head, a cluster_head or both')
        if not hasattr(self.backbone, 'forward_tokens'):
            raise TypeError(f'LOCA needs a LOCAViT backbone, got {type(self.backbone).__name__}')
        self.position_head = MODELS.build(position_head) if position_head else None
        self.cluster_head = MODELS.build(cluster_head) if cluster_head else None
        self.query_keep_tokens = int(query_keep_tokens)
        self.reference_mask_ratio = float(reference_mask_ratio)
        num_visible(1, self.reference_mask_ratio)  # validates η
        visible_token_indices(1, 1, 1, reference_masking)  # validates the mode
        self.reference_masking = reference_masking
        if reference_visible_rounding not in ('paper', 'release'):
            raise ValueError(f"reference_visible_rounding must be 'paper' (N - floor(eta N)) or "
                             f"'release' (floor((1 - eta) N)), got {reference_visible_rounding!r}")
        self.reference_visible_rounding = reference_visible_rounding
        if position_targets not in ('all', 'central'):
            raise ValueError(f"position_targets must be 'all' or 'central', got "
                             f'{position_targets!r}')
        self.position_targets = position_targets
        if (position_targets != 'all' and self.position_head is not None
                and self.position_head.output == 'box'):
            raise ValueError("position_targets='central' is a patch-classification variant; "
                             "the box head (output='box') regresses the whole query")
        if cluster_level not in ('patch', 'image_gap'):
            raise ValueError(f"cluster_level must be 'patch' or 'image_gap', got "
                             f'{cluster_level!r}')
        self.cluster_level = cluster_level
        if position_mode not in ('query_reference', 'single'):
            raise ValueError(f"position_mode must be 'query_reference' or 'single', got "
                             f'{position_mode!r}')
        if position_mode == 'single' and (self.cluster_head is not None
                                          or self.position_head is None
                                          or self.position_head.output != 'positions'):
            raise ValueError("position_mode='single' is the position-classification loss alone: "
                             'it needs a position_head with output="positions" and no '
                             'cluster_head')
        self.position_mode = position_mode
        self.patch_size = int(self.backbone.patch_size)
        if momentum_schedule_offset not in (0, 1):
            raise ValueError(f'momentum_schedule_offset must be 0 (densepre) or 1 (the '
                             f"authors' code), got {momentum_schedule_offset!r}")
        if momentum_schedule_offset:
            self.teacher = OffsetScheduleEMATeacher(
                self.online_modules(), momentum=base_momentum, end_momentum=end_momentum,
                buffers='copy', offset=momentum_schedule_offset)
        else:
            self.teacher = EMATeacher(self.online_modules(), momentum=base_momentum,
                                      end_momentum=end_momentum, buffers='copy')

    def online_modules(self) -> Dict[str, nn.Module]:
        """The student modules the teacher averages (those that see the reference)."""
        mods = OrderedDict(backbone=self.backbone)
        if self.cluster_head is not None:
            mods['cluster_head'] = self.cluster_head
        return mods

    def num_visible(self, num_tokens: int) -> int:
        """Visible reference tokens of ``num_tokens`` (``reference_visible_rounding``)."""
        if self.reference_visible_rounding == 'release':
            return int(floor((1 - self.reference_mask_ratio) * num_tokens + 1e-9))
        return num_visible(num_tokens, self.reference_mask_ratio)

    def extract_feat(self, inputs: torch.Tensor):
        return self.backbone(inputs)

    def _position_targets(self, targets: torch.Tensor, keep_idx: Optional[torch.Tensor],
                          hw) -> torch.Tensor:
        """The tracker targets the position loss uses (Table 5 variants)."""
        if self.position_targets == 'all':
            return targets
        central = (hw[0] // 2) * hw[1] + hw[1] // 2
        index = keep_idx if keep_idx is not None else torch.arange(
            targets.shape[1], device=targets.device).expand_as(targets)
        return torch.where(index == central, targets, torch.full_like(targets, -1))

    def _single_view_loss(self, view: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Fig. 4 "single": every patch of one view predicts its own position (no position
        embedding; keys / values only from the unmasked patches in every block)."""
        with torch.no_grad():  # the teacher still tracks the student (--teacher transfers)
            self.teacher.update(self.online_modules())
        batch = view.shape[0]
        num = (view.shape[-2] // self.patch_size) * (view.shape[-1] // self.patch_size)
        if self.position_head.num_positions != num:
            raise ValueError(f'the position head classifies {self.position_head.num_positions} '
                             f'positions but the view has {num} patches')
        keep = self.num_visible(num)
        if keep == 0:
            raise ValueError('single-view position prediction with eta = 1 leaves no patch to '
                             'attend to')
        visible = visible_token_indices(batch, num, keep, self.reference_masking,
                                        device=view.device)
        key_mask = torch.zeros(batch, num, dtype=torch.bool, device=view.device)
        key_mask.scatter_(1, visible, True)
        tokens, _, _ = self.backbone.forward_tokens(view, use_pos_embed=False, key_mask=key_mask)
        logits = self.position_head(tokens, tokens[:, :0])
        targets = torch.arange(num, device=view.device).expand(batch, num)
        losses = dict(loss_position=self.position_head.loss(logits, targets))
        with torch.no_grad():
            losses['position_accuracy'] = (logits.argmax(-1) == targets).float().mean()
        return losses

    # ------------------------------------------------------------------ loss
    def loss(self, inputs: List[torch.Tensor], data_samples: list,
             **kwargs) -> Dict[str, torch.Tensor]:
        views = MultiViewBatch(inputs, data_samples)
        ref_idx = views.indices('reference')
        if len(ref_idx) != 1:
            raise ValueError(f'LOCA needs exactly one reference view, got {len(ref_idx)}')
        geom = stack_geometries(data_samples).to(inputs[0].device)  # (B, V, 8)
        reference = inputs[ref_idx[0]]
        batch = reference.shape[0]
        if self.position_mode == 'single':
            return self._single_view_loss(reference)

        with torch.no_grad():
            self.teacher.update(self.online_modules())
            ref_tokens, _, ref_hw = self.teacher['backbone'].forward_tokens(reference)
            num_ref = ref_tokens.shape[1]
            keep = self.num_visible(num_ref)
            kv = gather_tokens(ref_tokens, visible_token_indices(
                batch, num_ref, keep, self.reference_masking, device=reference.device))
            ref_targets = None
            if self.cluster_head is not None:
                pooled = ref_tokens.mean(1, keepdim=True) if self.cluster_level == 'image_gap' \
                    else ref_tokens
                ref_targets = self.cluster_head.targets(
                    self.teacher['cluster_head'](pooled))  # (B, N_ref or 1, K)
        box_mode = self.position_head is not None and self.position_head.output == 'box'
        if (self.position_head is not None and not box_mode
                and self.position_head.num_positions != num_ref):
            raise ValueError(f'the position head classifies {self.position_head.num_positions} '
                             f'positions but the reference has {num_ref} patches')

        pos_logits, targets, pos_targets, cluster_logits, cluster_targets = [], [], [], [], []
        boxes, box_targets, box_valid, cluster_valid = [], [], [], []
        for idx, x in views.concatenated('query'):
            k = len(idx)
            tokens, keep_idx, hw = self.backbone.forward_tokens(x, self.query_keep_tokens)
            target = track_patches(geom[:, idx].transpose(0, 1).reshape(k * batch, -1), hw,
                                   geom[:, ref_idx[0]].repeat(k, 1), ref_hw, self.patch_size,
                                   keep_idx)  # (kB, n), views concatenated in order
            targets.append(target.reshape(-1))
            pos_targets.append(self._position_targets(target, keep_idx, hw).reshape(-1))
            if box_mode:  # Table 5: the query's box in the reference
                box, ok = query_box_in_reference(
                    geom[:, idx].transpose(0, 1).reshape(k * batch, -1),
                    geom[:, ref_idx[0]].repeat(k, 1))
                boxes.append(self.position_head(tokens, kv.repeat(k, 1, 1)))
                box_targets.append(box)
                box_valid.append(ok)
            elif self.position_head is not None:
                pos_logits.append(self.position_head(tokens, kv.repeat(k, 1, 1)).flatten(0, 1))
            if self.cluster_head is not None and self.cluster_level == 'image_gap':
                cluster_logits.append(self.cluster_head(tokens.mean(1)))
                cluster_targets.append(ref_targets[:, 0].repeat(k, 1))
                cluster_valid.append(torch.ones(k * batch, dtype=torch.bool,
                                                device=tokens.device))
            elif self.cluster_head is not None:
                cluster_logits.append(self.cluster_head(tokens).flatten(0, 1))
                matched = gather_tokens(ref_targets.repeat(k, 1, 1), target.clamp(min=0))
                cluster_targets.append(matched.flatten(0, 1))
                cluster_valid.append(target.reshape(-1) >= 0)
        targets = torch.cat(targets)
        valid = targets >= 0
        losses = dict(intersecting=valid.float().mean())
        if box_mode:
            losses.update(self.position_head.loss_box(
                torch.cat(boxes), torch.cat(box_targets), torch.cat(box_valid)))
        elif self.position_head is not None:
            logits, pos_targets = torch.cat(pos_logits), torch.cat(pos_targets)
            losses['loss_position'] = self.position_head.loss(logits, pos_targets)
            with torch.no_grad():
                scored = pos_targets >= 0
                hit = (logits.argmax(-1) == pos_targets) & scored
                losses['position_accuracy'] = hit.sum().float() / scored.sum().clamp(min=1)
        if self.cluster_head is not None:
            losses.update(self.cluster_head.loss(torch.cat(cluster_logits),
                                                 torch.cat(cluster_targets),
                                                 torch.cat(cluster_valid)))
        return losses
