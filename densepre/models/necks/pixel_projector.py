"""Per-pixel projector: the projection MLP applied to every cell of a feature map."""
from typing import Optional, Sequence, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import build_norm_layer
from mmengine.model import BaseModule

from densepre.registry import MODELS


@MODELS.register_module()
class PixelProjector(BaseModule):
    """Projection head g applied per pixel as 1x1 convolutions (CLoVE Sec. 6: "a two-layer MLP with
    4096 hidden units, ReLU, batch normalization, and an output dimension of 256", on the C5 map,
    so ``F = g(f(x)) ∈ R^{256×h×w}``)::

        F = [BN_noaffine] ∘ conv1x1 ∘ ReLU ∘ BN ∘ conv1x1   (2048 → 4096 → 256)

    Args:
        in_channels, hid_channels, out_channels (int): 2048, 4096, 256 for ResNet-50.
        with_last_bn (bool): end with a BatchNorm without affine parameters, as CLoVE's released
            code does (the paper does not mention it). Defaults to True.
        with_bias (bool): biases in the convolutions. A conv followed by BN does not need one;
            the released code has none. Defaults to False.
        norm_cfg (dict): normalisation layer (``BN`` / ``SyncBN``).
        in_index (int): which backbone output to project when given a tuple. Defaults to -1.
    """

    def __init__(self,
                 in_channels: int = 2048,
                 hid_channels: int = 4096,
                 out_channels: int = 256,
                 with_last_bn: bool = True,
                 with_bias: bool = False,
                 norm_cfg: Optional[dict] = None,
                 in_index: int = -1,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        norm_cfg = dict(type='BN') if norm_cfg is None else norm_cfg
        self.in_index = in_index
        self.conv1 = nn.Conv2d(in_channels, hid_channels, 1, bias=with_bias)
        self.bn1 = build_norm_layer(norm_cfg, hid_channels)[1]
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(hid_channels, out_channels, 1, bias=with_bias)
        self.bn2 = (build_norm_layer(dict(norm_cfg, affine=False), out_channels)[1]
                    if with_last_bn else nn.Identity())

    def forward(self, x: Union[torch.Tensor, Sequence[torch.Tensor]]) -> torch.Tensor:
        """(B, C_in, h, w) -> (B, C_out, h, w), stored cells-major (channels-last strides).

        The 1×1 convolutions run as one matrix product over the B·h·w cells (the conv weights
        viewed as matrices: same parameters, same maths; on CPU a little faster than the 1×1-conv
        path on 7×7 / 3×3 maps, see configs/clove/README.md "Speed"); the BNs see the cells as a
        (B·h·w, C, 1, 1) batch, i.e. statistics over batch × cells, as on the map.
        """
        if not isinstance(x, torch.Tensor):
            x = x[self.in_index]
        b, _, h, w = x.shape
        cells = x.permute(0, 2, 3, 1).reshape(b * h * w, -1)
        hid = F.linear(cells, self.conv1.weight.flatten(1), self.conv1.bias)
        hid = self.relu(self.bn1(hid[..., None, None])).flatten(1)
        out = F.linear(hid, self.conv2.weight.flatten(1), self.conv2.bias)
        out = self.bn2(out[..., None, None])
        return out.view(b, h, w, -1).permute(0, 3, 1, 2)
