"""The ViT that LOCA pretrains: mmpretrain's ``VisionTransformer`` without class token, whose
learned 14x14 position embedding is resized to every view's patch grid, with random query token
dropping (LOCA Sec. 3 / appendix A.1, following MSN).

The parameters are exactly those of ``mmpretrain.VisionTransformer(with_cls_token=False)``, so a
LOCA checkpoint's ``backbone.`` tensors load completely into the Segmenter-linear transfer configs
(``configs/benchmarks/mmsegmentation/_base_/segmenter-linear_vit-b16_mmpretrain.py``).
"""
from typing import Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.models import VisionTransformer

from densepre.registry import MODELS
from ..utils.loca_release_init import (check_gelu_approximate, check_init_mode, lecun_normal_,
                                       xavier_uniform_chunks_)


def random_token_indices(batch: int, num_tokens: int, num_keep: int,
                         device=None, generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Indices (B, num_keep) of the tokens each sample keeps: a uniformly random subset, in
    increasing order (one argsort of uniform noise per sample, as MAE draws its mask)."""
    if not 0 < num_keep <= num_tokens:
        raise ValueError(f'cannot keep {num_keep} of {num_tokens} tokens')
    noise = torch.rand(batch, num_tokens, device=device, generator=generator)
    return noise.argsort(dim=1)[:, :num_keep].sort(dim=1).values


@MODELS.register_module()
class LOCAViT(VisionTransformer):
    """ViT without class token for LOCA pretraining.

    Args:
        arch: mmpretrain arch name or dict. Defaults to ``'b'``.
        img_size: size the learned position embedding is defined for (224: a 14x14 grid).
        patch_size: Defaults to 16.
        drop_path_rate: stochastic depth, linear over the blocks (LOCA A.1: 0.1).
        pos_embed_interpolation: how the position embedding is resized to a smaller / larger
            patch grid (96-px queries: 6x6). Defaults to ``'bilinear'`` with anti-aliasing, what
            the authors' JAX code does (``jax.image.resize(..., 'bilinear')`` anti-aliases when
            downsampling); mmpretrain's ``'bicubic'`` (no anti-aliasing) is the other option.
        out_type: output of :meth:`forward` (the mmpretrain interface: downstream, probes).
            Defaults to ``'featmap'`` (B, C, h, w).
        gelu_approximate: ``'none'`` — exact GELU (mmpretrain's, the default); ``'tanh'`` —
            the tanh approximation, flax's ``nn.gelu`` default that the authors' code runs.
        init_mode: ``'densepre'`` — mmpretrain's ViT init (position embedding truncated normal
            std 0.02, torch ``Linear`` / ``Conv2d`` defaults for q/k/v, output projection and
            patch embedding); ``'release'`` — the authors' flax init: position embedding
            ``N(0, 1/C)``, q / k / v and output projections Xavier-uniform per ``(C, C)``
            projection with zero biases, patch embedding LeCun truncated normal with zero bias
            (:mod:`densepre.models.utils.loca_release_init`). The MLPs (Xavier, bias N(0, 1e-6))
            and LayerNorms are the same in both.
        **kwargs: other ``VisionTransformer`` arguments.
    """

    def __init__(self,
                 arch='b',
                 img_size=224,
                 patch_size=16,
                 drop_path_rate: float = 0.1,
                 pos_embed_interpolation: str = 'bilinear',
                 out_type: str = 'featmap',
                 gelu_approximate: str = 'none',
                 init_mode: str = 'densepre',
                 **kwargs) -> None:
        check_init_mode(init_mode, 'LOCAViT')
        if check_gelu_approximate(gelu_approximate, 'LOCAViT') != 'none':
            layer_cfgs = kwargs.pop('layer_cfgs', dict())
            if not isinstance(layer_cfgs, dict) or 'act_cfg' in layer_cfgs:
                raise ValueError('LOCAViT: gelu_approximate sets layer_cfgs.act_cfg; give one '
                                 'or the other (layer_cfgs must then be one dict)')
            kwargs['layer_cfgs'] = dict(layer_cfgs,
                                        act_cfg=dict(type='GELU', approximate=gelu_approximate))
        for key in ('with_cls_token', 'final_norm'):
            if key in kwargs:
                raise ValueError(f'LOCAViT: {key} is fixed (no class token, final LayerNorm)')
        if pos_embed_interpolation not in ('bilinear', 'bicubic'):
            raise ValueError("pos_embed_interpolation must be 'bilinear' (anti-aliased, as the "
                             f"authors' code) or 'bicubic', got {pos_embed_interpolation!r}")
        super().__init__(arch=arch, img_size=img_size, patch_size=patch_size,
                         drop_path_rate=drop_path_rate, with_cls_token=False, final_norm=True,
                         out_type=out_type, interpolate_mode=pos_embed_interpolation, **kwargs)
        self.patch_size = patch_size
        self.init_mode = init_mode
        self.gelu_approximate = gelu_approximate

    def init_weights(self) -> None:
        super().init_weights()
        pretrained = isinstance(self.init_cfg, dict) and self.init_cfg.get('type') == 'Pretrained'
        if self.init_mode == 'release' and not pretrained:
            self._init_release()

    @torch.no_grad()
    def _init_release(self) -> None:
        """The flax initialisers of the authors' ``ViT4LOCA`` (see ``init_mode``)."""
        conv = self.patch_embed.projection
        lecun_normal_(conv.weight)
        if conv.bias is not None:
            nn.init.zeros_(conv.bias)
        nn.init.normal_(self.pos_embed, std=self.embed_dims**-0.5)
        for layer in self.layers:
            for proj, chunks in ((layer.attn.qkv, 3), (layer.attn.proj, 1)):
                xavier_uniform_chunks_(proj.weight, chunks)
                if proj.bias is not None:
                    nn.init.zeros_(proj.bias)

    def pos_embed_for(self, hw: Tuple[int, int]) -> torch.Tensor:
        """The (1, h*w, C) position embedding of an ``hw`` patch grid."""
        if tuple(hw) == tuple(self.patch_resolution):
            return self.pos_embed
        h0, w0 = self.patch_resolution
        grid = self.pos_embed.reshape(1, h0, w0, -1).permute(0, 3, 1, 2)
        antialias = self.interpolate_mode == 'bilinear'
        grid = F.interpolate(grid, size=tuple(hw), mode=self.interpolate_mode,
                             align_corners=False, antialias=antialias)
        return grid.flatten(2).transpose(1, 2)

    def forward_tokens(self, x: torch.Tensor, num_keep: Optional[int] = None,
                       use_pos_embed: bool = True, key_mask: Optional[torch.Tensor] = None
                       ) -> Tuple[torch.Tensor, Optional[torch.Tensor], Tuple[int, int]]:
        """Encode ``x`` (B, 3, H, W) into final-LayerNorm patch tokens.

        Args:
            num_keep: if given and smaller than the number of patches, each sample keeps a random
                subset of ``num_keep`` tokens after the position embedding (LOCA's random query
                token dropping, 70 of 196).
            use_pos_embed: False: no position embedding (LOCA Fig. 4 "single", after Zhai et
                al.: position prediction in one view is trivial with it).
            key_mask: (B, N) bool, the patches that serve as attention keys / values in every
                block (Fig. 4 "single" masking: every patch attends to the unmasked ones only).

        Returns:
            ``(tokens (B, n, C), keep_idx (B, n) or None, (h, w) patch grid)``; ``keep_idx`` are
            the row-major patch indices of the kept tokens (``None``: all kept).
        """
        x, hw = self.patch_embed(x)
        if use_pos_embed:
            x = x + self.pos_embed_for(hw)
        keep_idx = None
        if key_mask is not None and num_keep is not None:
            raise ValueError('key_mask and token dropping (num_keep) do not combine')
        if num_keep is not None and num_keep < x.shape[1]:
            keep_idx = random_token_indices(x.shape[0], x.shape[1], num_keep, device=x.device)
            x = x.gather(1, keep_idx[..., None].expand(-1, -1, x.shape[-1]))
        x = self.pre_norm(self.drop_after_pos(x))
        for layer in self.layers:
            x = layer(x) if key_mask is None else layer_with_key_mask(layer, x, key_mask)
        return self.ln1(x), keep_idx, tuple(hw)

    def forward(self, x: torch.Tensor):
        tokens, _, hw = self.forward_tokens(x)
        return (self._format_output(tokens, hw), )


def layer_with_key_mask(layer, x: torch.Tensor, key_mask: torch.Tensor) -> torch.Tensor:
    """mmpretrain's ``TransformerEncoderLayer.forward`` with the attention keys / values limited
    to ``key_mask`` (B, N) (every token still queries): the same tensors and operations, plus an
    attention mask."""
    attn = layer.attn
    if getattr(attn, 'v_shortcut', False) or not hasattr(attn, 'qkv'):
        raise TypeError('key masking supports mmpretrain MultiheadAttention without v_shortcut')
    h = layer.ln1(x)
    b, n, _ = h.shape
    qkv = attn.qkv(h).reshape(b, n, 3, attn.num_heads, attn.head_dims).permute(2, 0, 3, 1, 4)
    out = F.scaled_dot_product_attention(
        qkv[0], qkv[1], qkv[2], attn_mask=key_mask[:, None, None, :].to(torch.bool),
        dropout_p=attn.attn_drop if attn.training else 0.)
    out = attn.proj(out.transpose(1, 2).reshape(b, n, attn.embed_dims))
    x = x + attn.out_drop(attn.gamma1(attn.proj_drop(out)))
    return layer.ffn(layer.ln2(x), identity=x)
