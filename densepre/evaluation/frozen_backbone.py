"""The frozen backbone of any densepre checkpoint as a dense feature extractor.

The architecture is read from the checkpoint's tensors (ResNet depth from its blocks; ViT width,
depth, MLP width, patch size, grid, class token and norms from theirs), the model is built with
mmpretrain, loaded, and checked with the transfer suite's complete-loading verification
(:func:`densepre.transfer.checkpoint.verify_complete_loading`): every backbone tensor must equal
the checkpoint's, or loading fails with the list of tensors that would stay random.

* ResNet: ``strides`` / ``dilations`` per stage (default output stride 8: layer3 and layer4 with
  stride 1 and dilation 2 and 4, the usual dilated ResNet) and the stage whose output is returned.
* ViT: the final-norm patch tokens as a ``(B, C, H/p, W/p)`` map (the class token, if any, is
  dropped; LayerScale gammas, if any, are loaded); inputs are zero-padded to a multiple of the
  patch size; the position embedding is resized to the input's grid by mmpretrain. The number
  of heads is not stored in the tensors: it comes from the checkpoint's config (``meta.cfg``)
  when present, else from ``num_heads``, else ``embed_dims // 64`` (ViT-S/B/L), which is logged.
* Every backbone tensor of the checkpoint must be used (``ignore_keys`` for deliberate drops);
  the ResNet stages after ``out_stage`` are not built and their tensors are dropped, logged.
"""
import re
from typing import Dict, Optional, Sequence

import torch
import torch.nn.functional as F

#: ResNet depth from the number of blocks per stage and the block type.
_DEPTHS = {((2, 2, 2, 2), False): 18, ((3, 4, 6, 3), False): 34, ((3, 4, 6, 3), True): 50,
           ((3, 4, 23, 3), True): 101, ((3, 8, 36, 3), True): 152}
PREFIX = 'backbone.'


def resnet_depth(state: Dict[str, torch.Tensor], prefix: str = PREFIX) -> int:
    blocks = {}
    for key in state:
        m = re.match(re.escape(prefix) + r'layer([1-4])\.(\d+)\.', key)
        if m:
            blocks[int(m[1])] = max(blocks.get(int(m[1]), 0), int(m[2]) + 1)
    counts = tuple(blocks.get(i, 0) for i in (1, 2, 3, 4))
    bottleneck = f'{prefix}layer1.0.conv3.weight' in state
    if (counts, bottleneck) not in _DEPTHS:
        raise ValueError(f'unknown ResNet layout: blocks {counts}, bottleneck={bottleneck}')
    return _DEPTHS[(counts, bottleneck)]


def _heads_from_meta(meta: dict) -> Optional[int]:
    """ViT heads from the training config a densepre checkpoint's meta carries (as text)."""
    cfg = meta.get('cfg') if isinstance(meta, dict) else None
    if isinstance(cfg, str):
        m = re.search(r'num_heads\s*=\s*(\d+)', cfg)
        return int(m[1]) if m else None
    return None


def vit_config(state: Dict[str, torch.Tensor], num_heads: Optional[int],
               prefix: str = PREFIX) -> dict:
    """mmpretrain ``VisionTransformer`` kwargs that reproduce the checkpoint's tensors."""
    proj = state[f'{prefix}patch_embed.projection.weight']
    dims, patch = proj.shape[0], proj.shape[-1]
    layers = 1 + max(int(m[1]) for k in state
                     for m in [re.match(re.escape(prefix) + r'layers\.(\d+)\.', k)] if m)
    ffn = state[f'{prefix}layers.0.ffn.layers.0.0.weight'].shape[0]
    with_cls = f'{prefix}cls_token' in state
    tokens = state[f'{prefix}pos_embed'].shape[1] - int(with_cls)
    grid = int(round(tokens ** 0.5))
    if grid * grid != tokens:
        raise ValueError(f'pos_embed holds {tokens} patch positions: not a square grid')
    if num_heads is None:
        if dims % 64:
            raise ValueError(f'cannot guess the number of heads of a {dims}-dim ViT: pass it')
        num_heads = dims // 64
    return dict(type='VisionTransformer',
                arch=dict(embed_dims=dims, num_layers=layers, num_heads=num_heads,
                          feedforward_channels=ffn),
                img_size=grid * patch, patch_size=patch, out_type='featmap', out_indices=-1,
                with_cls_token=with_cls, final_norm=f'{prefix}ln1.weight' in state,
                pre_norm=f'{prefix}pre_norm.weight' in state, norm_cfg=dict(type='LN', eps=1e-6),
                # LayerScale (DeiT-III, CaiT-style): any value > 0 creates the gammas to load
                layer_scale_init_value=1e-5 if f'{prefix}layers.0.attn.gamma1.weight' in state
                else 0.,
                interpolate_mode='bicubic')


class FrozenBackbone(torch.nn.Module):
    """``forward(images (B, 3, H, W)) -> (B, C, h, w)`` dense features of a frozen backbone."""

    def __init__(self, model: torch.nn.Module, kind: str, stride: int, description: str):
        super().__init__()
        self.model, self.kind, self.stride, self.description = model, kind, stride, description

    def train(self, mode: bool = True):
        return super().train(False)  # frozen: BN statistics included

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind == 'vit':
            h, w = x.shape[-2:]
            x = F.pad(x, (0, -w % self.stride, 0, -h % self.stride))
        return self.model(x)[-1]


def load_frozen_backbone(checkpoint: str, strides: Sequence[int] = (1, 2, 1, 1),
                         dilations: Sequence[int] = (1, 1, 2, 4), out_stage: int = 4,
                         num_heads: Optional[int] = None, log=print,
                         teacher: Optional[bool] = None,
                         ignore_keys: Sequence[str] = ()) -> FrozenBackbone:
    """Build, load and verify the backbone of ``checkpoint`` (ResNet or ViT).

    Args:
        checkpoint: densepre pretraining checkpoint (or a ``backbone.``-prefixed state dict).
        strides, dilations: per ResNet stage (default: output stride 8, dilated layer3/4); only
            the first ``out_stage`` entries are used.
        out_stage: ResNet stage (1-4) whose output is returned. The stages after it are not
            built (videowalk's ``remove_layers``): their checkpoint tensors are dropped, which
            is logged.
        num_heads: ViT heads (see the module docstring).
        teacher: None: the backbone the checkpoint's method reports (LOCA: its teacher); True /
            False: the EMA teacher's / the online one (:func:`extract_backbone`).
        ignore_keys: shell-style patterns of checkpoint tensors that may stay unused; every
            other backbone tensor of the checkpoint must be used.
    """
    from densepre.registry import MODELS
    from densepre.transfer.checkpoint import (extract_backbone, load_checkpoint, matches_ignore,
                                              verify_complete_loading)
    from densepre.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    loaded = load_checkpoint(checkpoint)  # read once, weights-only
    pretrained = extract_backbone(checkpoint, teacher=teacher, log=log, loaded=loaded)
    ignore_keys = list(ignore_keys)
    if f'{PREFIX}patch_embed.projection.weight' in pretrained:
        heads = num_heads or _heads_from_meta(loaded[1])
        cfg = vit_config(pretrained, heads)
        if heads is None:
            log(f'ViT heads not in the checkpoint config: assuming embed_dims // 64 = '
                f'{cfg["arch"]["num_heads"]} (set --num-heads otherwise)')
        kind, stride = 'vit', cfg['patch_size']
        desc = (f'ViT (dims {cfg["arch"]["embed_dims"]}, {cfg["arch"]["num_layers"]} layers, '
                f'{cfg["arch"]["num_heads"]} heads, patch {stride})')
    elif any(k.startswith(f'{PREFIX}layer1.') for k in pretrained):
        depth = resnet_depth(pretrained)
        if not 1 <= out_stage <= 4:
            raise ValueError(f'out_stage must be 1..4, got {out_stage}')
        cfg = dict(type='ResNet', depth=depth, num_stages=out_stage,
                   strides=tuple(strides)[:out_stage], dilations=tuple(dilations)[:out_stage],
                   out_indices=(out_stage - 1, ))
        removed = [f'layer{i}.*' for i in range(out_stage + 1, 5)]
        if removed:
            n = sum(1 for k in pretrained if matches_ignore(k[len(PREFIX):], removed)
                    and not k.endswith('num_batches_tracked'))
            log(f'stages after stage {out_stage} removed (as videowalk\'s remove_layers): '
                f'{n} checkpoint tensors of {", ".join(r[:-2] for r in removed)} not used')
            ignore_keys += removed
        stride = 4
        for s in tuple(strides)[:out_stage]:
            stride *= s
        kind = 'resnet'
        desc = f'ResNet-{depth} (stage {out_stage}, output stride {stride}, dilations {dilations})'
    else:
        raise ValueError(f'{checkpoint}: neither a ResNet ("backbone.layer1.*") nor an mmpretrain '
                         'ViT ("backbone.patch_embed.projection.weight") backbone')
    model = MODELS.build(cfg)
    model.load_state_dict({k[len(PREFIX):]: v for k, v in pretrained.items()}, strict=False)
    if ignore_keys:
        log(f'checkpoint tensors matching {ignore_keys} may stay unused')
    verify_complete_loading(model, pretrained, what=desc, ignore_keys=ignore_keys)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    log(f'{desc}: every tensor loaded from {checkpoint}')
    return FrozenBackbone(model, kind, stride, desc)
