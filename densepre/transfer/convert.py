"""Key conversions of a densepre backbone for other code bases.

* detectron2 (the authors' detection protocol of MoCo / LEWEL / CLoVE): ResNet names
  ``stem.conv1``, ``res{2..5}.{i}.conv{1,2,3}[.norm]``, ``shortcut[.norm]``;
* torchvision / timm ResNet: the mmpretrain names already are torchvision's (no prefix);
* timm ViT from an mmpretrain ``VisionTransformer``.
"""
import re
from typing import Dict

import torch

PREFIX = 'backbone.'


def strip_prefix(state: Dict[str, torch.Tensor], prefix: str = PREFIX) -> Dict[str, torch.Tensor]:
    return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}


def resnet_to_detectron2(state: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """torchvision / mmpretrain ResNet keys (no prefix) → detectron2 ResNet keys."""
    out = {}
    for key, value in state.items():
        if key.startswith('fc.'):
            continue
        new = key
        if not key.startswith('layer'):
            new = 'stem.' + new
        new = re.sub(r'^layer(\d)', lambda m: f'res{int(m.group(1)) + 1}', new)
        new = re.sub(r'bn(\d)', r'conv\1.norm', new)
        new = new.replace('downsample.0', 'shortcut').replace('downsample.1', 'shortcut.norm')
        if new in out:
            raise KeyError(f'two keys map to detectron2 name {new}')
        out[new] = value
    return out


_VIT_TIMM = [
    (r'^patch_embed\.projection\.', 'patch_embed.proj.'),
    (r'^layers\.(\d+)\.ln1\.', r'blocks.\1.norm1.'),
    (r'^layers\.(\d+)\.ln2\.', r'blocks.\1.norm2.'),
    (r'^layers\.(\d+)\.attn\.', r'blocks.\1.attn.'),
    (r'^layers\.(\d+)\.ffn\.layers\.0\.0\.', r'blocks.\1.mlp.fc1.'),
    (r'^layers\.(\d+)\.ffn\.layers\.1\.', r'blocks.\1.mlp.fc2.'),
    (r'^ln1\.', 'norm.'),
]


def vit_to_timm(state: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """mmpretrain ``VisionTransformer`` keys (no prefix) → timm ``VisionTransformer`` keys."""
    out = {}
    for key, value in state.items():
        new = key
        for pattern, repl in _VIT_TIMM:
            new = re.sub(pattern, repl, new)
        out[new] = value
    return out


def is_vit(state: Dict[str, torch.Tensor]) -> bool:
    return any(k.startswith('patch_embed.') for k in state)
