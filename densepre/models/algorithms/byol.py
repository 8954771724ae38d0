"""BYOL (Grill et al., 2020, "Bootstrap Your Own Latent")."""
from typing import Dict, List, Optional

import torch
from mmpretrain.models import BaseSelfSupervisor

from densepre.registry import MODELS
from ..utils.ema import EMATeacherMixin
from ..utils.multiview import MultiViewBatch, ViewPairs, count_fallback_crops, forward_views
from ..utils.precision import in_fp32


@MODELS.register_module()
class BYOL(EMATeacherMixin, BaseSelfSupervisor):
    """BYOL: the online network predicts the target network's projection of the other view
    (BYOL Eq. 2, symmetrised as in Eq. 4)::

        L = ‖q̄(z₁) − z̄′₂‖² + ‖q̄(z₂) − z̄′₁‖²  =  (2 − 2·cos(q(z₁), z′₂)) + (2 − 2·cos(q(z₂), z′₁))

    The target network ξ (``target_net``, an :class:`EMATeacher` of backbone + projector) follows
    BYOL Eq. 1 ``ξ ← τξ + (1 − τ)θ`` with the cosine schedule of τ from ``1 − base_momentum``
    (e.g. 0.01 for BYOL's 0.99, 0.02 for LEWEL's 0.98) to ``1 − end_momentum``. The head is
    mmpretrain's ``LatentPredictHead`` (predictor q + normalised MSE).

    Args:
        backbone, neck, head (dict): encoder f, projector g, predictor q + loss.
        base_momentum (float): ``1 − τ_base``. Defaults to 0.004 (τ_base = 0.996, BYOL).
        end_momentum (float): ``1 − τ_end``. Defaults to 0 (τ → 1).
        teacher_buffers (str): BN statistics of the target (:class:`EMATeacher` ``buffers``):
            ``'copy'`` (BYOL: copied from the online network, the target normalises with batch
            statistics), ``'eman'`` (EMAN, Cai et al. 2021: EMA'd statistics, target BN in eval
            mode — LEWEL's setting) or ``'ema'`` (EMA'd but unused; densepre's old
            ``ema_buffers=True``). Defaults to ``'copy'``.
        view_pairs (dict, optional): multi-crop BYOL: ``dict(keys=[groups], queries=[groups])``
            (:class:`~densepre.models.utils.ViewPairs`) — the target network encodes the views
            of the ``keys`` groups, the online network predicts each of them from every other
            view of the ``queries`` groups. The loss is ``(2/|P|)·Σ_{(o,t)∈P} 2 − 2·cos(q(z_o),
            z′_t)``, which for two views is Eq. 4's sum of both directions. Needs the pipeline
            to pack ``view_groups``. Default: the two-view loss above on ``inputs[0:2]``.
        batch_views (bool): with ``view_pairs``, run the views of one size through the online /
            target network (and the predictor) as one concatenated batch (multi-crop batching;
            BN normalises over them together). ``False``: one pass per view. Defaults to True.
        teacher_update (str): when ξ is averaged. ``'forward'`` (mmpretrain): inside the forward,
            after the online pass, with this iteration's τ. ``'after_step'`` (the BYOL and LEWEL
            releases): after the optimizer step, with the τ of the step just done — run as the
            same update at the start of the next forward, before any pass, so the target's BN
            statistics are the online ones of the previous step (with EMAN they are used) and a
            run's final target lacks only that last update. Defaults to ``'forward'``.
    """

    TEACHER_UPDATES = ('forward', 'after_step')

    teacher_attr = 'target_net'

    def __init__(self,
                 backbone: dict,
                 neck: dict,
                 head: dict,
                 base_momentum: float = 0.004,
                 end_momentum: float = 0.,
                 teacher_buffers: str = 'copy',
                 view_pairs: Optional[dict] = None,
                 batch_views: bool = True,
                 teacher_update: str = 'forward',
                 pretrained: Optional[str] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(backbone=backbone, neck=neck, head=head, pretrained=pretrained,
                         data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.base_momentum = base_momentum
        self.end_momentum = end_momentum
        self.teacher_buffers = teacher_buffers
        self.view_pairs = ViewPairs.build(view_pairs)
        self.batch_views = batch_views
        if teacher_update not in self.TEACHER_UPDATES:
            raise ValueError(f'{type(self).__name__} teacher_update must be one of '
                             f'{self.TEACHER_UPDATES}, got {teacher_update!r}')
        self.teacher_update = teacher_update
        if self._build_teacher_in_init:
            self.build_teacher()

    # ------------------------------------------------------------------ target network ξ
    def teacher_kwargs(self) -> dict:
        """ξ of backbone + projector: cosine schedule of τ (BYOL Eq. 1), ``teacher_buffers``."""
        return dict(momentum=self.base_momentum, end_momentum=self.end_momentum,
                    buffers=self.teacher_buffers,
                    momentum_lag=int(self.teacher_update == 'after_step'))

    @torch.no_grad()
    def update_teacher_at(self, point: str) -> None:
        """Update ξ if ``point`` (``'start'`` of the forward, or ``'forward'``: after the
        online pass) is where ``teacher_update`` puts it."""
        if (point == 'start') == (self.teacher_update == 'after_step'):
            self.update_teacher()

    # ------------------------------------------------------------------ forward
    def extract_feat(self, inputs: torch.Tensor):
        return self.backbone(inputs)

    def online_projection(self, img: torch.Tensor) -> torch.Tensor:
        return self.neck(self.backbone(img))[0]

    @torch.no_grad()
    def target_projection(self, img: torch.Tensor) -> torch.Tensor:
        return self.teacher['neck'](self.teacher['backbone'](img))[0]

    def loss(self, inputs: List[torch.Tensor], data_samples: list,
             **kwargs) -> Dict[str, torch.Tensor]:
        if self.view_pairs is not None:
            return self.multiview_loss(MultiViewBatch(inputs, data_samples))
        self.update_teacher_at('start')
        z1, z2 = self.online_projection(inputs[0]), self.online_projection(inputs[1])
        with torch.no_grad():
            self.update_teacher_at('forward')
            t1, t2 = self.target_projection(inputs[0]), self.target_projection(inputs[1])
        return dict(loss=self.predict_loss(self.head, z1, t2) +
                    self.predict_loss(self.head, z2, t1))

    @staticmethod
    def predict_loss(head, z: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """``head.loss(z, target)`` (predictor, then normalised MSE) with the normalisation and
        the cosine in fp32 under AMP (CPU autocast would keep them in fp16 / bf16)."""
        return in_fp32(head.loss_module, head.predictor([z])[0], target.detach())

    def online_prediction(self, img: torch.Tensor) -> torch.Tensor:
        """``q(g(f(img)))``: the online prediction of a view."""
        return self.head.predictor([self.online_projection(img)])[0]

    def multiview_loss(self, views: MultiViewBatch) -> Dict[str, torch.Tensor]:
        """BYOL over the declared view pairs; predictions and targets computed once per view."""
        online_idx, target_idx, pairs = self.view_pairs.resolve(views)
        self.update_teacher_at('start')
        if self.batch_views:
            run = forward_views
        else:
            def run(fn, imgs):
                return [fn(x) for x in imgs]
        preds = dict(zip(online_idx, run(self.online_prediction,
                                         [views.inputs[i] for i in online_idx])))
        with torch.no_grad():
            self.update_teacher_at('forward')
            targets = dict(zip(target_idx, run(self.target_projection,
                                               [views.inputs[i] for i in target_idx])))
        loss = sum(in_fp32(self.head.loss_module, preds[o], targets[t]) for o, t in pairs)
        loss = loss * (2.0 / len(pairs))
        return dict(loss=loss, crop_fallbacks=count_fallback_crops(views.data_samples,
                                                                   loss.device))
