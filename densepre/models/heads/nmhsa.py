"""CLoVE's contextualised predictor: normalised multi-head self-attention over a feature map."""
from typing import Optional, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule

from densepre.registry import MODELS


@MODELS.register_module()
class NMHSAPredictor(BaseModule):
    """Normalised multi-head self-attention predictor q_s (CLoVE Sec. 3.4 and 6)::

        head_h = softmax(σ(F W_h^q, F W_h^k) / τ) · F W_h^v,     C = [head_1 … head_H] W^o

    over the ``L = h·w`` cells of the projected map ``F`` (tokens of dimension C). With
    ``normalize=True`` (NMHSA) queries and keys are L2-normalised per head, so the scores are
    cosine similarities in [−1, 1] divided by the temperature τ; ``normalize=False`` is the plain
    MHSA of CLoVE Table 9 (scores ``Q·Kᵀ/√d``, ``temperature`` unused).

    Args:
        embed_dims (int): token dimension C (256).
        num_heads (int): H (8). head_dims (int): d (32); ``W^q,W^k,W^v ∈ R^{C×d}`` per head.
        normalize (bool): NMHSA (True) or MHSA (False).
        temperature (float): τ of NMHSA. The paper does not give a value; 0.2 is the
            ``attn_temp`` default of the authors' released configuration.
        qkv_bias (bool): biases of the q/k/v projections (``nn.MultiheadAttention``'s default).

    Initialisation: ``nn.MultiheadAttention``'s, as in the released code (the paper gives none):
    Xavier-uniform over the fused q/k/v projection, zero q/k/v and output biases, the output
    weight as ``nn.Linear`` initialises it (:meth:`reset_parameters`).
    """

    def __init__(self,
                 embed_dims: int = 256,
                 num_heads: int = 8,
                 head_dims: int = 32,
                 normalize: bool = True,
                 temperature: float = 0.2,
                 qkv_bias: bool = True,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if temperature <= 0:
            raise ValueError(f'NMHSAPredictor temperature must be > 0, got {temperature}')
        self.num_heads, self.head_dims = num_heads, head_dims
        self.normalize, self.temperature = normalize, float(temperature)
        inner = num_heads * head_dims
        self.qkv = nn.Linear(embed_dims, 3 * inner, bias=qkv_bias)
        self.out_proj = nn.Linear(inner, embed_dims)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """``nn.MultiheadAttention._reset_parameters``' scheme (see the class docstring)."""
        nn.init.xavier_uniform_(self.qkv.weight)
        if self.qkv.bias is not None:
            nn.init.zeros_(self.qkv.bias)
        self.out_proj.reset_parameters()
        nn.init.zeros_(self.out_proj.bias)

    def attention(self, tokens: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """tokens (B, L, C) -> (attention (B, H, L, L), values (B, H, L, d))."""
        b, n, _ = tokens.shape
        q, k, v = self.qkv(tokens).view(b, n, 3, self.num_heads, self.head_dims).permute(
            2, 0, 3, 1, 4)
        # AMP: normalisation, scores and softmax in fp32 (cosines / τ = 0.2 span ±5, where
        # bf16 keeps ~2 decimal digits); the value product stays in the autocast precision
        dtype = torch.promote_types(q.dtype, torch.float32)
        with torch.autocast(q.device.type, enabled=False):
            q, k = q.to(dtype), k.to(dtype)
            if self.normalize:
                q, k = F.normalize(q, dim=-1), F.normalize(k, dim=-1)
                scale = 1.0 / self.temperature
            else:
                scale = self.head_dims**-0.5
            return torch.softmax(q @ k.transpose(-2, -1) * scale, dim=-1), v

    def forward(self, x: torch.Tensor, return_attention: bool = False
                ) -> Union[torch.Tensor, Tuple[torch.Tensor, torch.Tensor]]:
        """x (B, C, h, w) -> contextualised map (B, C, h, w) [, attention (B, H, L, L)]."""
        b, c, h, w = x.shape
        attn, v = self.attention(x.flatten(2).transpose(1, 2))
        out = self.out_proj((attn.to(v.dtype) @ v).transpose(1, 2).reshape(b, h * w, -1))
        out = out.transpose(1, 2).reshape(b, c, h, w)
        return (out, attn) if return_attention else out
