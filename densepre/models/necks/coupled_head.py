"""LEWEL's coupled projection head g (Sec. 3.2, Fig. 1b / Fig. 2)."""
from typing import List, Optional, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import build_norm_layer
from mmengine.model import BaseModule

from densepre.registry import MODELS


@MODELS.register_module()
class CoupledProjectionHead(BaseModule):
    """One projection MLP ``g`` used both globally and per pixel (LEWEL Sec. 3.2).

    ``g`` is written with 1x1 convolutions (``conv-[norm]-ReLU-…-conv``, the hidden layers
    normalised as in the paper's "one hidden layer followed by BN and ReLU"; the convs are
    computed as per-pixel matmuls), so the *same* parameters produce

    * the global embedding ``z = g(GAP(F))`` (Sec. 3.1): :meth:`forward` pools ``F`` to a
      ``(N, D, 1, 1)`` map and returns ``(z,)`` with ``z`` of shape ``(N, d)`` — the
      interface of mmpretrain's ``NonLinearNeck``, so BYOL / MoCo code calling
      ``neck(backbone(x))[0]`` gets the global embedding unchanged;
    * the per-pixel projection ``W̃ = g(F) ∈ R^{d×H×W}`` from which the alignment maps are made
      (:meth:`forward_dense`);
    * ``g`` applied to vectors (:meth:`project`), used when ``g`` also serves as the semantic
      projector (the "without extra p" row of Table 6).

    * both at once (:meth:`forward_global_and_dense`), as LEWEL needs them every step.

    There is one parameter set and one set of BN running statistics. The global and per-pixel
    paths are the same function only in eval mode: in train mode a hidden BN normalises with the
    statistics of the rows it is given, so *which rows go through g together* matters.
    ``batch_mode='joint'`` (default) runs g once on the rows ``[GAP(F); every pixel of F]``
    (``N·(1 + HW)`` rows) — one set of batch statistics for both, one running-statistics
    update, as the authors' release does (the paper is silent); ``'separate'`` runs g on the
    ``N`` pooled rows and on the ``N·HW`` pixel rows in two passes (two sets of statistics, two
    running-statistics updates: densepre's behaviour before, kept as an option).

    Args:
        in_channels (int): ``D`` (2048 for ResNet-50).
        hid_channels (int): hidden width (4096 for LEWEL_B, 2048 for LEWEL_M).
        out_channels (int): ``d``, the number of semantics / alignment maps.
        num_layers (int): number of 1x1 convs. Defaults to 2.
        with_bias (bool): bias in the hidden convs. Defaults to True.
        with_last_bias (bool): bias in the last conv. Defaults to True.
        with_last_bn (bool): normalise the output too. Defaults to False.
        norm_cfg (dict, optional): norm after each hidden conv (``BN``, ``SyncBN``); ``None``
            for an MLP without normalisation (the MoCo v2 neck form). Defaults to ``BN``.
        batch_mode (str): ``'joint'`` or ``'separate'`` (see above). Defaults to ``'joint'``.
        init_cfg: defaults to BN weight 1 (convs: PyTorch's default init). The authors' release
            initialises the convs with Kaiming normal, fan-out (``dict(type='Kaiming',
            mode='fan_out', nonlinearity='relu', distribution='normal', layer='Conv2d')``, see
            ``configs/lewel/lewel_b_r50_16xb64-release_200e.py``).
    """

    BATCH_MODES = ('joint', 'separate')

    def __init__(self,
                 in_channels: int,
                 hid_channels: int,
                 out_channels: int,
                 num_layers: int = 2,
                 with_bias: bool = True,
                 with_last_bias: bool = True,
                 with_last_bn: bool = False,
                 norm_cfg: Optional[dict] = dict(type='BN'),
                 batch_mode: str = 'joint',
                 init_cfg: Optional[Union[dict, List[dict]]] = [
                     dict(type='Constant', val=1, layer=['_BatchNorm', 'GroupNorm'])
                 ]) -> None:
        super().__init__(init_cfg)
        if num_layers < 1:
            raise ValueError('num_layers must be >= 1')
        if batch_mode not in self.BATCH_MODES:
            raise ValueError(f'CoupledProjectionHead batch_mode must be one of '
                             f'{self.BATCH_MODES}, got {batch_mode!r}')
        self.batch_mode = batch_mode
        self.in_channels = in_channels
        self.out_channels = out_channels
        layers = []
        channels = in_channels
        for i in range(num_layers):
            last = i == num_layers - 1
            out = out_channels if last else hid_channels
            layers.append(nn.Conv2d(channels, out, 1, bias=with_last_bias if last else with_bias))
            if norm_cfg is not None and (not last or with_last_bn):
                layers.append(build_norm_layer(norm_cfg, out)[1])
            if not last:
                layers.append(nn.ReLU(inplace=True))
            channels = out
        self.mlp = nn.Sequential(*layers)

    def _mlp_rows(self, x: torch.Tensor) -> torch.Tensor:
        """The MLP on rows ``(M, D) → (M, d)``: each 1x1 conv is applied as the matmul it is
        (``F.linear`` with the conv weight viewed as ``(out, in)``), which is markedly faster
        on CPUs than a 1x1 convolution over a small map; norms see ``(M, C)`` (or
        ``(M, C, 1, 1)`` for 2-d BN), i.e. the same statistics over ``N·H·W`` positions as in
        the conv form."""
        for layer in self.mlp:
            if isinstance(layer, nn.Conv2d):
                x = F.linear(x, layer.weight.flatten(1), layer.bias)
            elif isinstance(layer, nn.BatchNorm2d):
                x = layer(x[:, :, None, None]).flatten(1)
            else:
                x = layer(x)
        return x

    def forward_dense(self, feat: torch.Tensor) -> torch.Tensor:
        """Per-pixel projection ``W̃ = g(F)``: ``(N, D, H, W) → (N, d, H, W)``."""
        n, c, h, w = feat.shape
        rows = feat.permute(0, 2, 3, 1).reshape(n * h * w, c)
        return self._mlp_rows(rows).view(n, h, w, -1).permute(0, 3, 1, 2)

    def forward_global_and_dense(self, feat: torch.Tensor
                                 ) -> Tuple[torch.Tensor, torch.Tensor]:
        """``(z, W̃) = (g(GAP(F)), g(F))``: ``(N, D, H, W) → (N, d), (N, d, H, W)``.

        ``'joint'``: one pass over the ``N·(1 + HW)`` rows ``[GAP(F); pixels]`` (shared batch
        statistics); ``'separate'``: :meth:`forward` then :meth:`forward_dense`."""
        n, c, h, w = feat.shape
        if self.batch_mode == 'separate':
            return self.forward((feat, ))[0], self.forward_dense(feat)
        pixels = feat.permute(0, 2, 3, 1).reshape(n * h * w, c)
        out = self._mlp_rows(torch.cat([feat.mean(dim=(2, 3)), pixels]))
        z, dense = out.split([n, n * h * w])
        return z, dense.view(n, h, w, -1).permute(0, 3, 1, 2)

    def project(self, x: torch.Tensor) -> torch.Tensor:
        """``g`` on vectors: ``(N, D) → (N, d)``."""
        return self._mlp_rows(x)

    def forward(self, x: Tuple[torch.Tensor]) -> Tuple[torch.Tensor]:
        """Global embedding ``z = g(GAP(F))`` of the last backbone output, as a 1-tuple.

        A 2-d input ``(N, D)`` is taken as already pooled (so the head can also serve as a
        projector of vectors)."""
        feat = x[-1]
        return (self._mlp_rows(feat if feat.dim() == 2 else feat.mean(dim=(2, 3))), )
