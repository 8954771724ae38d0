"""Class activation maps (Zhou et al., CVPR 2016, Eq. 1-2) of a linear classifier on globally
average-pooled frozen features: ``M_c(x, y) = sum_k w_{c,k} f_k(x, y)``, the class score before
pooling (``S_c = mean_{x,y} M_c(x, y) + b_c``), as Revisiting-Contrastive's Fig. 6 / S2 show."""
from typing import Tuple

import cv2
import numpy as np
import torch
import torch.nn.functional as F


def class_activation_maps(feats: torch.Tensor, weight: torch.Tensor,
                          classes: torch.Tensor) -> torch.Tensor:
    """``feats (B, C, h, w)``, ``weight (K, C)``, ``classes (B,)`` -> ``(B, h, w)`` CAMs."""
    if feats.shape[1] != weight.shape[1]:
        raise ValueError(f'classifier expects {weight.shape[1]} channels, features have '
                         f'{feats.shape[1]}')
    return torch.einsum('bchw,bc->bhw', feats.float(), weight[classes].float())


def normalise_maps(cams: torch.Tensor, size: Tuple[int, int]) -> torch.Tensor:
    """Bilinearly resize to ``size`` and min-max normalise each map to [0, 1]."""
    up = F.interpolate(cams[:, None], size=size, mode='bilinear', align_corners=False)[:, 0]
    lo = up.flatten(1).min(1)[0][:, None, None]
    hi = up.flatten(1).max(1)[0][:, None, None]
    return (up - lo) / (hi - lo).clamp(min=1e-12)


def overlay(image: np.ndarray, cam: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """RGB uint8 image blended with the jet-coloured ``cam`` in [0, 1]."""
    heat = cv2.applyColorMap((cam * 255).astype(np.uint8), cv2.COLORMAP_JET)[..., ::-1]
    return (image * (1 - alpha) + heat * alpha).astype(np.uint8)
