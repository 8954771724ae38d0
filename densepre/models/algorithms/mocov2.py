"""MoCo v2 (Chen et al., 2020, "Improved Baselines with Momentum Contrastive Learning")."""
import logging
from typing import Dict, List, Optional

import torch
import torch.nn.functional as F
from mmengine.dist import get_world_size
from mmengine.logging import print_log
from mmpretrain.models import BaseSelfSupervisor
from mmpretrain.models.utils import batch_shuffle_ddp, batch_unshuffle_ddp

from densepre.registry import MODELS
from ..utils.ema import EMATeacherMixin
from ..utils.feature_queue import FeatureQueue
from ..utils.multiview import MultiViewBatch, ViewPairs, count_fallback_crops, forward_views


def at_least_fp32(*tensors: torch.Tensor) -> List[torch.Tensor]:
    """The tensors in their common dtype, upcast to at least float32 (float64 stays float64).

    Used with ``torch.autocast(device, enabled=False)``: under AMP, autocast would run the
    similarity products in fp16 / bf16 even on fp32 inputs (the pattern of CLoVE's loss)."""
    dtype = torch.float32
    for t in tensors:
        dtype = torch.promote_types(dtype, t.dtype)
    return [t.to(dtype) for t in tensors]


@MODELS.register_module()
class MoCoV2(EMATeacherMixin, BaseSelfSupervisor):
    """MoCo v2: InfoNCE between a query and its momentum-encoded key against a queue (MoCo Eq. 1)::

        L_q = -log  exp(q·k⁺/τ) / (exp(q·k⁺/τ) + Σ_{k⁻ ∈ queue} exp(q·k⁻/τ))

    The key encoder ``encoder_k`` is an :class:`EMATeacher` of backbone + neck with a fixed
    momentum (MoCo Eq. 2, ``θ_k ← m·θ_k + (1 − m)·θ_q``; BN statistics copied from the query
    encoder, keys computed in train mode with ShuffleBN). The queue (:class:`FeatureQueue`,
    ``queue``) holds the keys of the last ``queue_len / batch`` iterations (one key batch
    enqueued per iteration and key view).

    Which views are queries and which are keys is either the two-view default (view 1 is the
    query of view 2's key; ``symmetric`` adds the reverse) or declared by group name in
    ``view_pairs`` (multi-crop, Revisiting-Contrastive Sec. 4): e.g.
    ``dict(keys=['key'], queries=['query', 'local'])`` makes every view of the ``query`` and
    ``local`` groups a query of the key view; small crops are then never encoded by the key
    encoder and never enqueued. The loss is the mean of the pairs' InfoNCE losses, and every key
    view is enqueued once.

    Precision: whatever the training precision, the embeddings are L2-normalised and the logits
    and the loss computed in fp32 (autocast disabled there, inputs upcast): the similarities of
    the queue's K = 65536 negatives are not rounded to fp16 / bf16.

    Args:
        backbone, neck, head (dict): encoder, MLP head, ``ContrastiveHead`` (τ).
        queue_len (int): K. Defaults to 65536.
        feat_dim (int): key size. Defaults to 128.
        momentum (float): MMEngine convention ``1 − m``, e.g. 0.001 for m = 0.999.
        shuffle_bn (bool): ShuffleBN for the key encoder (MoCo Sec. 3.3). Needs more than one
            process; a single-process run computes keys unshuffled and warns once.
        symmetric (bool): also use view 2 as the query of view 1's key (a symmetrised loss, the
            mean of both directions). Only the keys of view 2 are enqueued, so the queue still
            covers ``queue_len / batch`` iterations as in MoCo v2. Defaults to False (MoCo v2).
            Ignored with ``view_pairs``.
        view_pairs (dict, optional): ``dict(keys=[groups], queries=[groups])`` (see
            :class:`~densepre.models.utils.ViewPairs`); needs the pipeline to pack
            ``view_groups``.
        batch_views (bool): with ``view_pairs``, run the views of one role and size through the
            encoder as one concatenated batch (multi-crop batching; BN normalises over them
            together). ``False``: one pass per view. Defaults to True.
    """

    teacher_attr = 'encoder_k'

    def __init__(self,
                 backbone: dict,
                 neck: dict,
                 head: dict,
                 queue_len: int = 65536,
                 feat_dim: int = 128,
                 momentum: float = 0.001,
                 shuffle_bn: bool = True,
                 symmetric: bool = False,
                 view_pairs: Optional[dict] = None,
                 batch_views: bool = True,
                 pretrained: Optional[str] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(backbone=backbone, neck=neck, head=head, pretrained=pretrained,
                         data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.momentum = momentum
        self.queue_len = queue_len
        self.queue = FeatureQueue(queue_len, feat_dim)
        self.shuffle_bn = shuffle_bn
        self.symmetric = symmetric
        self.view_pairs = ViewPairs.build(view_pairs)
        self.batch_views = batch_views
        self._warned_shuffle = False
        if self._build_teacher_in_init:
            self.build_teacher()

    # ------------------------------------------------------------------ key encoder
    def teacher_kwargs(self) -> dict:
        """Key encoder θ_k of the query encoder θ_q (backbone + neck), fixed momentum:
        ``θ_k ← m·θ_k + (1 − m)·θ_q`` (MoCo Eq. 2), BN statistics copied."""
        return dict(momentum=self.momentum)

    def extract_feat(self, inputs: torch.Tensor):
        return self.backbone(inputs)

    @torch.no_grad()
    def _dequeue_and_enqueue(self, keys: torch.Tensor) -> None:
        """Replace the oldest ``world_size × N`` keys of the queue by ``keys`` of all processes."""
        self.queue.enqueue(keys)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # checkpoints from before FeatureQueue stored the queue as the buffers `queue` (C, K)
        # and `queue_ptr`, and were full
        old = state_dict.get(prefix + 'queue')
        if isinstance(old, torch.Tensor) and old.dim() == 2:
            state_dict[prefix + 'queue.queue'] = state_dict.pop(prefix + 'queue')
            state_dict[prefix + 'queue.ptr'] = state_dict.pop(prefix + 'queue_ptr')
            state_dict[prefix + 'queue.filled'] = torch.tensor([old.shape[1]])
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    @staticmethod
    def normalize_fp32(x: torch.Tensor) -> torch.Tensor:
        """``F.normalize(x, dim=1)`` in at least fp32, autocast off (see the class doc)."""
        with torch.autocast(x.device.type, enabled=False):
            return F.normalize(at_least_fp32(x)[0], dim=1)

    def encode_query(self, img: torch.Tensor) -> torch.Tensor:
        """L2-normalised query embeddings q (N, C)."""
        return self.normalize_fp32(self.neck(self.backbone(img))[0])

    @torch.no_grad()
    def encode_key(self, img: torch.Tensor) -> torch.Tensor:
        """L2-normalised key embeddings k (N, C) from the momentum encoder (with ShuffleBN)."""
        teacher = self.teacher
        return self.run_shuffled(
            lambda x: self.normalize_fp32(teacher['neck'](teacher['backbone'](x))[0]), img)

    @torch.no_grad()
    def run_shuffled(self, fn, img: torch.Tensor):
        """``fn(img)`` on a ShuffleBN-shuffled batch, outputs unshuffled (a tensor, or a tuple of
        tensors / None). Without a multi-process group ShuffleBN is impossible: warn once."""
        shuffle = self.shuffle_bn and get_world_size() > 1
        if self.shuffle_bn and not shuffle and not self._warned_shuffle:
            print_log('MoCo ShuffleBN needs more than one process: keys are computed without '
                      'batch shuffling in this single-process run.', logger='current',
                      level=logging.WARNING)
            self._warned_shuffle = True
        if not shuffle:
            return fn(img)
        img, idx_unshuffle = batch_shuffle_ddp(img)
        out = fn(img)

        def unshuffle(t):
            return None if t is None else batch_unshuffle_ddp(t, idx_unshuffle)

        return tuple(map(unshuffle, out)) if isinstance(out, tuple) else unshuffle(out)

    def contrastive_loss(self, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        """InfoNCE of queries ``q`` against positives ``k`` and the queue's negatives, in at
        least fp32 whatever the autocast state."""
        with torch.autocast(q.device.type, enabled=False):
            q, k, queue = at_least_fp32(q, k, self.queue.queue.clone().detach())
            l_pos = torch.einsum('nc,nc->n', q, k).unsqueeze(-1)
            l_neg = torch.einsum('nc,ck->nk', q, queue)
            return self.head.loss(l_pos, l_neg)

    def loss(self, inputs: List[torch.Tensor], data_samples: list,
             **kwargs) -> Dict[str, torch.Tensor]:
        with torch.no_grad():
            self.update_teacher()
        if self.view_pairs is not None:
            return self.multiview_loss(MultiViewBatch(inputs, data_samples))
        pairs = [(0, 1), (1, 0)] if self.symmetric else [(0, 1)]
        losses, keys = [], []
        for qi, ki in pairs:
            q = self.encode_query(inputs[qi])
            k = self.encode_key(inputs[ki])
            losses.append(self.contrastive_loss(q, k))
            keys.append(k)
        self._dequeue_and_enqueue(keys[0])  # one key batch per iteration (see `symmetric`)
        return dict(loss=sum(losses) / len(losses))

    def multiview_loss(self, views: MultiViewBatch) -> Dict[str, torch.Tensor]:
        """Mean InfoNCE over the ``view_pairs`` of the batch; each key view enqueued once."""
        query_idx, key_idx, pairs = self.view_pairs.resolve(views)
        world = get_world_size()  # refuse a queue the keys cannot fill before computing anything
        self.queue.check_batch(len(key_idx) * views.inputs[0].shape[0] * world, world)
        if self.batch_views:
            run = forward_views
        else:
            def run(fn, imgs):
                return [fn(x) for x in imgs]
        queries = dict(zip(query_idx, run(self.encode_query, [views.inputs[i] for i in query_idx])))
        keys = dict(zip(key_idx, run(self.encode_key, [views.inputs[i] for i in key_idx])))
        loss = sum(self.contrastive_loss(queries[q], keys[k]) for q, k in pairs) / len(pairs)
        self._dequeue_and_enqueue(torch.cat([keys[k] for k in key_idx]))
        return dict(loss=loss, crop_fallbacks=count_fallback_crops(views.data_samples,
                                                                   loss.device))
