"""BYOL (Grill et al., 2020, "Bootstrap Your Own Latent")."""
from typing import Dict, List

import torch
import torch.nn as nn
from mmpretrain.models import BYOL as MMPretrainBYOL
from mmpretrain.models.utils import CosineEMA

from densepre.registry import MODELS


@MODELS.register_module()
class BYOL(MMPretrainBYOL):
    """BYOL: the online network predicts the target network's projection of the other view
    (BYOL Eq. 2, symmetrised as in Eq. 4)::

        L = ‖q̄(z₁) − z̄′₂‖² + ‖q̄(z₂) − z̄′₁‖²  =  (2 − 2·cos(q(z₁), z′₂)) + (2 − 2·cos(q(z₂), z′₁))

    The target network ξ is a cosine-scheduled EMA of backbone + projector (mmpretrain
    ``CosineEMA``; ``base_momentum`` = 1 − τ_base, e.g. 0.01 for BYOL's 0.99, 0.02 for LEWEL's
    0.98). The head is mmpretrain's ``LatentPredictHead`` (predictor q + normalised MSE).

    Args:
        ema_buffers (bool): also average BN running statistics into the target instead of copying
            them from the online network ("EMA BN statistics", LEWEL Sec. 3.3).
        **kwargs: mmpretrain ``BYOL`` arguments.
    """

    def __init__(self, *args, ema_buffers: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if ema_buffers:
            self.target_net = CosineEMA(
                nn.Sequential(self.backbone, self.neck),
                momentum=self.target_net.momentum,
                update_buffers=True)

    def online_projection(self, img: torch.Tensor) -> torch.Tensor:
        return self.neck(self.backbone(img))[0]

    @torch.no_grad()
    def target_projection(self, img: torch.Tensor) -> torch.Tensor:
        return self.target_net(img)[0]

    def loss(self, inputs: List[torch.Tensor], data_samples: list,
             **kwargs) -> Dict[str, torch.Tensor]:
        z1, z2 = self.online_projection(inputs[0]), self.online_projection(inputs[1])
        with torch.no_grad():
            self.target_net.update_parameters(nn.Sequential(self.backbone, self.neck))
            t1, t2 = self.target_projection(inputs[0]), self.target_projection(inputs[1])
        return dict(loss=self.head.loss(z1, t2) + self.head.loss(z2, t1))
