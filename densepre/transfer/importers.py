"""Import the released checkpoints of other code bases as densepre pretraining checkpoints.

Each format names where its backbone lives and which other keys it is known to hold (heads,
momentum copies, queues); the backbone is renamed to densepre's (mmpretrain) names under
``backbone.``. A key that is neither is an error naming it, so a layout that was misread can never
silently lose tensors. Layouts, as the authors' code writes them:

* ``torchvision``: a torchvision ResNet ``state_dict`` (``conv1``, ``bn1``, ``layer1..4``, ``fc``),
  plain or under ``state_dict`` / ``model``; also what LEWEL's ``utils/extract_backbone.py`` and
  mmselfsup's backbone extraction write.
* ``moco``: facebookresearch/moco ``main_moco.py``: ``{'state_dict': {'module.encoder_q.<resnet>',
  'module.encoder_k.<resnet>', 'module.queue', 'module.queue_ptr'}}``; ``encoder_q.fc`` is the
  MoCo v1 linear or v2 MLP (``fc.0``, ``fc.2``) projection.
* ``mmselfsup``: mmselfsup 0.x / mmpretrain 1.x: ``backbone.*`` (mmcv / mmpretrain ResNet names =
  torchvision's) next to ``neck``, ``head``, ``encoder_q`` / ``encoder_k`` (0.x MoCo / DenseCL,
  whose ``encoder_q.0`` is the backbone again), ``target_net`` / ``momentum_encoder``, queues.
* ``lewel``: LayneH/LEWEL ``main.py``: ``module.online_net.backbone.*`` (LEWEL_B) or
  ``module.encoder_q.backbone.*`` (LEWEL_M), next to ``online_net.neck``, ``target_net``,
  ``encoder_k``, ``predictor``, ``predictor_obj``; the ResNet has torchvision names, no fc.
* ``clove``: sthalles/CLoVE ``main_pretrain.py`` (PixPro's layout): ``{'model':
  {'module.encoder.<resnet>', 'module.encoder_k.*', 'module.projector[_k].*',
  'module.self_attn.*'}}``.
* ``revisiting``: wvangansbeke/Revisiting-Contrastive-SSL ``main[_ours].py``: MoCo's layout plus
  the ``module.queue_backbone`` of the kNN variant.
* ``timm``: a timm / DeiT ``VisionTransformer`` (``cls_token``, ``pos_embed``,
  ``patch_embed.proj``, ``blocks.N.{norm1,attn.qkv,attn.proj,norm2,mlp.fc1,mlp.fc2,ls1,ls2}``,
  ``norm``; the classifier ``head`` / ``fc_norm`` are dropped), plain or under ``model``. Its
  ``pos_embed`` holds a slot for the class token (added before the token is prepended).
* ``deit3``: facebookresearch/deit ``models_v2.py`` / timm ``deit3_*`` (``no_embed_class``): the
  same names with LayerScale ``ls1`` / ``ls2`` (``gamma_1`` / ``gamma_2`` in the DeiT release),
  but the position embedding has no class-token slot -- the class token is prepended after it is
  added. It is loaded into mmpretrain's ``VisionTransformer`` (``layer_scale_init_value > 0``,
  ``with_cls_token=True``) with a zero position slot for the class token, which computes exactly
  the same. (mmpretrain 1.2.0's own ``DeiT3`` backbone normalises the FFN input with ``ln1``
  instead of ``ln2``, ``DeiT3TransformerEncoderLayer.forward``: it does not reproduce the
  release.)

Known non-backbone keys match whole key components: ``module.queue`` explains ``module.queue``
and ``module.queue.*``, never ``module.queue_backbone``.
"""
import os
import os.path as osp
import re
from typing import Dict, List, Sequence, Tuple

import torch

from .checkpoint import PREFIX, REPORTED_KEY, load_state_dict

RESNET = ('conv1.', 'bn1.', 'layer1.', 'layer2.', 'layer3.', 'layer4.')


class UnknownKeysError(KeyError):
    """A checkpoint holds keys its declared format does not explain."""

    def __str__(self):  # KeyError would print the message with quotes
        return str(self.args[0])


def _known(key: str, known: Sequence[str]) -> bool:
    """``key`` is one of ``known`` or lies under one of them, component-wise (``a.b`` explains
    ``a.b`` and ``a.b.c``, not ``a.bc``)."""
    return any(key == k.rstrip('.') or key.startswith(k.rstrip('.') + '.') for k in known)


def _resnet(state, source_prefix: str, known_other: Sequence[str], fmt: str,
            drop_in_backbone: Sequence[str] = ('fc.', )) -> Dict[str, torch.Tensor]:
    out, unknown = {}, []
    for key, value in state.items():
        if key.startswith(source_prefix):
            name = key[len(source_prefix):]
            if name.startswith(RESNET):
                out[PREFIX + name] = value
                continue
            if name.startswith(tuple(drop_in_backbone)):
                continue
        elif _known(key, known_other):
            continue
        unknown.append(key)
    _check(out, unknown, fmt, f'ResNet keys under "{source_prefix}"')
    return out


def _check(out, unknown: List[str], fmt: str, expected: str) -> None:
    if unknown:
        raise UnknownKeysError(
            f'--from {fmt}: {len(unknown)} key(s) this format does not explain: '
            + ', '.join(sorted(unknown)[:20]) + (' ...' if len(unknown) > 20 else '')
            + f' (expected {expected} and the known non-backbone keys); is it another format? '
            f'(formats: {", ".join(FORMATS)})')
    if not out:
        raise UnknownKeysError(f'--from {fmt}: no backbone tensors found (expected {expected})')


def from_torchvision(state):
    return _resnet(state, '', (), 'torchvision')


def from_moco(state):
    return _resnet(state, 'module.encoder_q.',
                   ('module.encoder_k.', 'module.queue', 'module.queue_ptr'), 'moco')


def from_revisiting(state):
    return _resnet(state, 'module.encoder_q.',
                   ('module.encoder_k.', 'module.queue', 'module.queue_ptr',
                    'module.queue_backbone'), 'revisiting')


_MM_OTHER = ('neck.', 'head.', 'heads.', 'encoder_q.', 'encoder_k.', 'momentum_encoder.',
             'target_net.', 'online_net.', 'predictor.', 'projector.', 'data_preprocessor.',
             'queue', 'queue_ptr', 'queue2', 'queue2_ptr')


def from_mmselfsup(state):
    """``backbone.*`` already has densepre's (mmpretrain) names: kept verbatim, ResNet or ViT."""
    out, unknown = {}, []
    for key, value in state.items():
        if key.startswith(PREFIX):
            out[key] = value
        elif not _known(key, _MM_OTHER):
            unknown.append(key)
    _check(out, unknown, 'mmselfsup', 'keys under "backbone."')
    return out


def from_lewel(state):
    online = [p for p in ('module.online_net.backbone.', 'module.encoder_q.backbone.')
              if any(k.startswith(p) for k in state)]
    if len(online) != 1:
        raise UnknownKeysError(
            '--from lewel: expected the online backbone under exactly one of '
            f'"module.online_net.backbone." (LEWEL_B) / "module.encoder_q.backbone." (LEWEL_M), '
            f'found {online or "neither"}')
    return _resnet(state, online[0],
                   ('module.online_net.neck.', 'module.encoder_q.neck.', 'module.target_net.',
                    'module.encoder_k.', 'module.predictor.', 'module.predictor_obj.',
                    'module.queue', 'module.queue_ptr'), 'lewel')


def from_clove(state):
    return _resnet(state, 'module.encoder.',
                   ('module.encoder_k.', 'module.projector.', 'module.projector_k.',
                    'module.self_attn.'), 'clove')


_TIMM_VIT: List[Tuple[str, str]] = [
    (r'^cls_token$', 'cls_token'),
    (r'^pos_embed$', 'pos_embed'),
    (r'^patch_embed\.proj\.(weight|bias)$', r'patch_embed.projection.\1'),
    (r'^blocks\.(\d+)\.norm1\.(weight|bias)$', r'layers.\1.ln1.\2'),
    (r'^blocks\.(\d+)\.attn\.(qkv|proj)\.(weight|bias)$', r'layers.\1.attn.\2.\3'),
    (r'^blocks\.(\d+)\.norm2\.(weight|bias)$', r'layers.\1.ln2.\2'),
    (r'^blocks\.(\d+)\.mlp\.fc1\.(weight|bias)$', r'layers.\1.ffn.layers.0.0.\2'),
    (r'^blocks\.(\d+)\.mlp\.fc2\.(weight|bias)$', r'layers.\1.ffn.layers.1.\2'),
    # LayerScale (DeiT-III, CaiT-style blocks): mmpretrain keeps it inside attn / ffn
    (r'^blocks\.(\d+)\.ls1\.gamma$', r'layers.\1.attn.gamma1.weight'),
    (r'^blocks\.(\d+)\.ls2\.gamma$', r'layers.\1.ffn.gamma2.weight'),
    (r'^norm\.(weight|bias)$', r'ln1.\1'),
]
_TIMM_DROP = ('head.', 'fc_norm.', 'head_drop.')


def _vit(state, fmt):
    out, unknown = {}, []
    for key, value in state.items():
        for pattern, repl in _TIMM_VIT:
            if re.match(pattern, key):
                out[PREFIX + re.sub(pattern, repl, key)] = value
                break
        else:
            if not _known(key, _TIMM_DROP):
                unknown.append(key)
    _check(out, unknown, fmt, 'timm VisionTransformer keys (blocks.N.*, patch_embed.proj.*)')
    return out


def _patch_grid(pos_embed: torch.Tensor) -> bool:
    """The position embedding holds a square grid of patch positions and nothing else."""
    n = pos_embed.shape[1]
    return int(round(n ** 0.5)) ** 2 == n


def from_timm(state):
    if 'cls_token' in state and 'pos_embed' in state and _patch_grid(state['pos_embed']) \
            and not _patch_grid(state['pos_embed'][:, 1:]):
        raise UnknownKeysError(
            f'--from timm: pos_embed {tuple(state["pos_embed"].shape)} has no class-token slot '
            'although the checkpoint has a cls_token: a DeiT-III / no_embed_class layout, which '
            'adds the position embedding before prepending the class token. Use --from deit3.')
    return _vit(state, 'timm')


_DEIT_RELEASE = [(r'^blocks\.(\d+)\.gamma_1$', r'blocks.\1.ls1.gamma'),
                 (r'^blocks\.(\d+)\.gamma_2$', r'blocks.\1.ls2.gamma')]


def from_deit3(state):
    """DeiT-III into mmpretrain's ``VisionTransformer``: ``x = cat(cls, patches + pos)`` equals
    ``cat(cls, patches) + [0, pos]``, so the position embedding gets a zero class-token slot."""
    renamed = {}
    for key, value in state.items():
        for pattern, repl in _DEIT_RELEASE:  # the DeiT release's names of the LayerScale
            key = re.sub(pattern, repl, key)
        renamed[key] = value
    pos, cls = renamed.get('pos_embed'), renamed.get('cls_token')
    if pos is None or cls is None or not _patch_grid(pos):
        raise UnknownKeysError(
            '--from deit3: expected a cls_token and a pos_embed of patch positions only (a square '
            f'grid), got cls_token {None if cls is None else tuple(cls.shape)}, pos_embed '
            f'{None if pos is None else tuple(pos.shape)} (with a class-token slot: --from timm)')
    if not any(re.match(r'^blocks\.\d+\.ls1\.gamma$', k) for k in renamed):
        raise UnknownKeysError('--from deit3: no LayerScale (blocks.N.ls1.gamma / gamma_1): not '
                               'a DeiT-III checkpoint (--from timm for plain ViTs)')
    renamed['pos_embed'] = torch.cat([torch.zeros_like(pos[:, :1]), pos], dim=1)
    return _vit(renamed, 'deit3')


FORMATS = {
    'torchvision': from_torchvision,
    'moco': from_moco,
    'mmselfsup': from_mmselfsup,
    'mmpretrain': from_mmselfsup,
    'lewel': from_lewel,
    'clove': from_clove,
    'revisiting': from_revisiting,
    'timm': from_timm,
    'deit': from_timm,
    'deit3': from_deit3,
}


def import_checkpoint(src: str, fmt: str, dst: str = None,
                      trust: bool = False) -> Dict[str, torch.Tensor]:
    """Read ``src`` in layout ``fmt``; returns (and writes to ``dst``, atomically) a densepre
    checkpoint ``{'state_dict': {'backbone.<name>': tensor}, 'meta': {...}}``. ``trust``: fully
    unpickle a file that is not weights-only (CLoVE / PixPro and DeiT releases pickle an argparse
    namespace; only for files you trust)."""
    if fmt not in FORMATS:
        raise ValueError(f'unknown format {fmt!r}; one of {", ".join(FORMATS)}')
    state = load_state_dict(src, trust=trust)
    out = {k: v.detach().cpu().contiguous() for k, v in FORMATS[fmt](state).items()}
    if dst is not None:
        os.makedirs(osp.dirname(osp.abspath(dst)), exist_ok=True)
        tmp = dst + '.part'
        torch.save({'state_dict': out,
                    'meta': {'imported_from': fmt, 'source': osp.abspath(src),
                             REPORTED_KEY: 'online'}}, tmp)
        os.replace(tmp, dst)
    return out
