"""kNN-MoCo (Van Gansbeke et al., 2021, "Revisiting Contrastive Methods for Unsupervised Learning
of Visual Representations", Sec. 4.3)."""
from typing import Dict, Optional, Tuple

import torch
import torch.nn.functional as F
from mmengine.dist import get_world_size
from mmengine.logging import MessageHub

from densepre.registry import MODELS
from ..utils.feature_queue import FeatureQueue
from ..utils.host_int import host_int
from ..utils.multiview import MultiViewBatch, count_fallback_crops, forward_views
from .mocov2 import MoCoV2

#: name of the FeatureQueue side-queue holding the key encoder's backbone features (Q_g)
BACKBONE_QUEUE = 'backbone'


@MODELS.register_module()
class KNNMoCo(MoCoV2):
    """MoCo with nearest neighbours from the queue as extra positives (Revisiting Eq. 2)::

        L = L_inst + λ·L_nn,
        L_nn = −Σ_{x⁺} 1/k Σ_{j ∈ N(x⁺)} log softmax_j(f(x⁺)ᵀ Q_h / τ)

    ``Q_h`` is MoCo's key queue and ``Q_g`` an aligned side-queue (same columns) of the key
    encoder's L2-normalised global-average-pooled backbone features (before the head). The
    neighbours ``N(x⁺)`` of a positive (every query view: the large query and the small crops)
    are the ``k`` columns of ``Q_g`` most cosine-similar to its own normalised backbone feature
    ``g(x⁺)`` — one matmul and one ``topk`` (:meth:`FeatureQueue.knn`); the multi-label
    cross-entropy is taken over the head logits against ``Q_h`` (the ``l_neg`` of the instance
    loss, computed once). ``L_nn`` is averaged over positives and neighbours, like the
    authors' ``pull_topk``.

    The loss is switched on from epoch ``warmup_epochs`` (read from the Runner's message hub,
    so it follows resumes): the paper's remedy for neighbours mined by a random network
    (suppl. B: 5 epochs, 20 for 800 epochs). Logged besides ``loss``: ``inst_ce``, ``knn_ce``
    (0 while off) and ``knn_active``.

    Needs ``view_pairs`` (queries / keys by group name, see :class:`MoCoV2`).

    Args:
        knn_k (int): number of neighbours k. Defaults to 20.
        knn_weight (float): λ. Defaults to 0.4.
        warmup_epochs (int): epochs trained with ``L_inst`` only. Defaults to 5.
        backbone_dim (int): size of the GAP backbone feature (2048 for ResNet-50).
        **kwargs: :class:`MoCoV2` arguments.
    """

    def __init__(self,
                 *args,
                 knn_k: int = 20,
                 knn_weight: float = 0.4,
                 warmup_epochs: int = 5,
                 backbone_dim: int = 2048,
                 **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.view_pairs is None:
            raise ValueError('KNNMoCo needs view_pairs=dict(keys=[...], queries=[...]) '
                             '(the query / key view groups of the pipeline)')
        if int(knn_k) < 1 or knn_weight < 0 or int(warmup_epochs) < 0:
            raise ValueError(f'KNNMoCo needs knn_k >= 1, knn_weight >= 0, warmup_epochs >= 0; '
                             f'got {knn_k}, {knn_weight}, {warmup_epochs}')
        if int(knn_k) > self.queue_len:
            raise ValueError(f'KNNMoCo knn_k={knn_k} exceeds queue_len={self.queue_len}')
        self.knn_k = int(knn_k)
        self.knn_weight = float(knn_weight)
        self.warmup_epochs = int(warmup_epochs)
        self.backbone_dim = int(backbone_dim)
        self.queue = FeatureQueue(self.queue_len, self.queue.dim,
                                  side_queues={BACKBONE_QUEUE: self.backbone_dim})

    # ------------------------------------------------------------------ encoders
    def _embed(self, backbone, neck, img: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """(L2-normalised head output, L2-normalised GAP of the last backbone stage)."""
        feats = backbone(img)
        g = feats[-1].mean(dim=(2, 3))
        if g.shape[1] != self.backbone_dim:
            raise ValueError(f'KNNMoCo backbone_dim={self.backbone_dim} but the backbone gives '
                             f'{g.shape[1]} channels (2048 for ResNet-50, 512 for ResNet-18)')
        return F.normalize(neck(feats)[0], dim=1), F.normalize(g, dim=1)

    def encode_query_and_backbone(self, img: torch.Tensor):
        return self._embed(self.backbone, self.neck, img)

    @torch.no_grad()
    def encode_key_and_backbone(self, img: torch.Tensor):
        teacher = self.teacher
        return self.run_shuffled(
            lambda x: self._embed(teacher['backbone'], teacher['neck'], x), img)

    # ------------------------------------------------------------------ loss
    def nn_loss_active(self) -> bool:
        """Whether the current epoch (Runner message hub; 0 outside a Runner) is past warm-up
        and Q_g holds at least k features (the side-queue starts empty; with
        ``warmup_epochs=0`` the first ``k / batch`` iterations are trained with L_inst only)."""
        epoch = MessageHub.get_current_instance().get_info('epoch')
        return (epoch or 0) >= self.warmup_epochs and host_int(self.queue.filled) >= self.knn_k

    @torch.no_grad()
    def neighbours(self, g: torch.Tensor) -> torch.Tensor:
        """Column indices (N, k) of the k entries of Q_g most similar to ``g`` (N, C_g)."""
        return self.queue.knn(g, self.knn_k, side=BACKBONE_QUEUE)[1]

    def knn_loss(self, l_neg: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        """Multi-label CE of the logits ``l_neg`` (N, K) against the columns ``idx`` (N, k)."""
        log_prob = F.log_softmax(l_neg / self.head.temperature, dim=1)
        return -log_prob.gather(1, idx).mean()

    def multiview_loss(self, views: MultiViewBatch) -> Dict[str, torch.Tensor]:
        query_idx, key_idx, pairs = self.view_pairs.resolve(views)
        world = get_world_size()
        self.queue.check_batch(len(key_idx) * views.inputs[0].shape[0] * world, world)
        if self.batch_views:
            run = forward_views
        else:
            def run(fn, imgs):
                return [fn(x) for x in imgs]
        queries = dict(zip(query_idx, run(self.encode_query_and_backbone,
                                          [views.inputs[i] for i in query_idx])))
        keys = dict(zip(key_idx, run(self.encode_key_and_backbone,
                                     [views.inputs[i] for i in key_idx])))

        q_all = torch.cat([queries[i][0] for i in query_idx])
        # logits of every positive against Q_h, shared by L_inst and L_nn
        l_neg_all = q_all @ self.queue.queue.clone().detach()
        l_neg = dict(zip(query_idx, torch.split(l_neg_all, [queries[i][0].shape[0]
                                                            for i in query_idx])))
        inst = sum(
            self.head.loss(torch.einsum('nc,nc->n', queries[qi][0], keys[ki][0]).unsqueeze(-1),
                           l_neg[qi]) for qi, ki in pairs) / len(pairs)
        active = self.nn_loss_active()
        if active:
            idx = self.neighbours(torch.cat([queries[i][1] for i in query_idx]))
            nn_loss = self.knn_loss(l_neg_all, idx)
            loss = inst + self.knn_weight * nn_loss
        else:
            nn_loss = torch.zeros((), device=inst.device)
            loss = inst
        self.queue.enqueue(torch.cat([keys[i][0] for i in key_idx]),
                           **{BACKBONE_QUEUE: torch.cat([keys[i][1] for i in key_idx])})
        return dict(loss=loss, inst_ce=inst.detach(), knn_ce=nn_loss.detach(),
                    knn_active=torch.tensor(float(active), device=inst.device),
                    crop_fallbacks=count_fallback_crops(views.data_samples, inst.device))
