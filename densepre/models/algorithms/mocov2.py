"""MoCo v2 (Chen et al., 2020, "Improved Baselines with Momentum Contrastive Learning")."""
import logging
from typing import Dict, List

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.dist import get_world_size
from mmengine.logging import print_log
from mmpretrain.models import MoCo
from mmpretrain.models.utils import batch_shuffle_ddp, batch_unshuffle_ddp

from densepre.registry import MODELS


@MODELS.register_module()
class MoCoV2(MoCo):
    """MoCo v2: InfoNCE between a query and its momentum-encoded key against a queue (MoCo Eq. 1)::

        L_q = -log  exp(q·k⁺/τ) / (exp(q·k⁺/τ) + Σ_{k⁻ ∈ queue} exp(q·k⁻/τ))

    Built on mmpretrain's ``MoCo`` (queue, EMA key encoder ``encoder_k``, ``ContrastiveHead``).

    Args:
        shuffle_bn (bool): ShuffleBN for the key encoder (MoCo Sec. 3.3). Needs more than one
            process; a single-process run computes keys unshuffled and warns once.
        symmetric (bool): also use view 2 as the query of view 1's key (the symmetrised loss
            LEWEL uses); both keys are enqueued. Defaults to False (MoCo v2).
        **kwargs: mmpretrain ``MoCo`` arguments (``backbone``, ``neck``, ``head``,
            ``queue_len``, ``feat_dim``, ``momentum`` = 1 - m, e.g. 0.001 for m = 0.999).
    """

    def __init__(self, *args, shuffle_bn: bool = True, symmetric: bool = False,
                 **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.shuffle_bn = shuffle_bn
        self.symmetric = symmetric
        self._warned_shuffle = False

    def encode_query(self, img: torch.Tensor) -> torch.Tensor:
        """L2-normalised query embeddings q (N, C)."""
        return F.normalize(self.neck(self.backbone(img))[0], dim=1)

    @torch.no_grad()
    def encode_key(self, img: torch.Tensor) -> torch.Tensor:
        """L2-normalised key embeddings k (N, C) from the momentum encoder (with ShuffleBN)."""
        return self.run_shuffled(lambda x: F.normalize(self.encoder_k(x)[0], dim=1), img)

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
        """InfoNCE of queries ``q`` against positives ``k`` and the queue's negatives."""
        l_pos = torch.einsum('nc,nc->n', q, k).unsqueeze(-1)
        l_neg = torch.einsum('nc,ck->nk', q, self.queue.clone().detach())
        return self.head.loss(l_pos, l_neg)

    def loss(self, inputs: List[torch.Tensor], data_samples: list,
             **kwargs) -> Dict[str, torch.Tensor]:
        with torch.no_grad():
            self.encoder_k.update_parameters(nn.Sequential(self.backbone, self.neck))
        pairs = [(0, 1), (1, 0)] if self.symmetric else [(0, 1)]
        losses, keys = [], []
        for qi, ki in pairs:
            q = self.encode_query(inputs[qi])
            k = self.encode_key(inputs[ki])
            losses.append(self.contrastive_loss(q, k))
            keys.append(k)
        for k in keys:
            self._dequeue_and_enqueue(k)
        return dict(loss=sum(losses) / len(losses))
