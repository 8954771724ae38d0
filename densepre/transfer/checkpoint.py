"""Pretraining checkpoint → downstream backbone, with complete-loading verification.

Downstream toolboxes load SSL weights with ``init_cfg=dict(type='Pretrained', prefix='backbone.')``
non-strictly: a key that does not match is only logged, and the layer silently stays random
(mmseg's deep-stem ``ResNetV1c``, a ViT checkpoint given to a ResNet, a checkpoint saved without
the ``backbone.`` prefix ...). densepre therefore

1. extracts the online backbone from a pretraining checkpoint into a tensors-only file
   (:func:`extract_backbone`), which ``torch.load(weights_only=True)`` accepts, and
2. before any training step, builds the downstream model, runs its real weight initialisation with
   that file and checks that every backbone tensor now equals the checkpoint's
   (:func:`verify_complete_loading`); keys that are random by design are listed explicitly.
"""
import os
import os.path as osp
import re
from typing import Dict, Iterable, List, Optional, Sequence

import torch

PREFIX = 'backbone.'


class IncompleteLoadingError(RuntimeError):
    """A downstream backbone parameter was not filled from the pretraining checkpoint."""


def load_state_dict(path: str, trust: bool = False) -> Dict[str, torch.Tensor]:
    """The model state dict stored in a densepre / MMEngine / plain torch checkpoint.

    Loaded weights-only (no code in the file can run); densepre checkpoints are checksum-verified.
    A file that needs full unpickling (another toolbox's, or densepre's before weights-only
    checkpoints) is refused with an error saying why, unless ``trust`` (or the environment
    variable ``DENSEPRE_TRUST_CHECKPOINT=1``) is set.
    """
    from densepre.engine.checkpoint_io import read_checkpoint
    ckpt = read_checkpoint(path, map_location='cpu', trust=trust)
    if isinstance(ckpt, dict):
        for key in ('state_dict', 'model', 'module'):
            if isinstance(ckpt.get(key), dict):
                return ckpt[key]
        if all(isinstance(v, torch.Tensor) for v in ckpt.values()):
            return ckpt
    raise ValueError(f'{path} holds no state dict (expected a dict with "state_dict")')


def _prefixes(keys: Iterable[str]) -> List[str]:
    return sorted({k.split('.', 1)[0] + '.' for k in keys})


def extract_backbone(src: str, dst: Optional[str] = None, prefix: str = PREFIX,
                     extra_prefixes: Sequence[str] = (),
                     trust: bool = False, teacher: bool = False) -> Dict[str, torch.Tensor]:
    """Keep the online backbone (keys under ``prefix``) of a pretraining checkpoint.

    The EMA / momentum copies (``target_net.``, ``encoder_k.``) and the heads are dropped. The
    result keeps the ``backbone.`` prefix so the same ``init_cfg`` works for raw and extracted
    files. Written atomically to ``dst`` if given, as ``{'state_dict': ..., 'meta': ...}``.
    ``trust``: see :func:`load_state_dict`. ``teacher=True`` takes the EMA teacher's backbone
    instead (``<teacher>.module.backbone.*``, e.g. ``teacher.`` / ``target_net.`` /
    ``encoder_k.``), renamed to ``backbone.*``: LOCA reports its momentum encoder (LOCA Sec. 4).
    """
    state = load_state_dict(src, trust=trust)
    if teacher:
        owners = sorted({m.group(1) for k in state
                         for m in [re.match(r'^(.+?)\.module\.backbone\.', k)] if m})
        if len(owners) != 1:
            raise KeyError(f'checkpoint {src}: --teacher needs exactly one EMA teacher backbone '
                           f'("<name>.module.backbone.*"), found {owners or "none"} (top-level '
                           f'prefixes {_prefixes(state)[:10]})')
        old = f'{owners[0]}.module.backbone.'
        state = {prefix + k[len(old):]: v for k, v in state.items() if k.startswith(old)}
    kept = {k: v for k, v in state.items()
            if k.startswith(prefix) or k.startswith(tuple(extra_prefixes))}
    if not kept:
        raise KeyError(f'checkpoint {src} has no "{prefix}" keys (its top-level prefixes are '
                       f'{_prefixes(state)[:10]}); is it a densepre / mmpretrain pretraining '
                       'checkpoint? Give a backbone-only file its "backbone." prefix.')
    kept = {k: v.detach().cpu().contiguous() for k, v in kept.items()}
    if dst is not None:
        os.makedirs(osp.dirname(osp.abspath(dst)), exist_ok=True)
        tmp = dst + '.part'
        torch.save({'state_dict': kept, 'meta': {'source': osp.abspath(src), 'prefix': prefix,
                                                  'teacher': teacher}},
                   tmp)
        os.replace(tmp, dst)
    return kept


def _through_load_hooks(module: torch.nn.Module, name: str, src: torch.Tensor) -> torch.Tensor:
    """``src`` as the owner of ``name`` would store it: run its load_state_dict pre-hooks."""
    owner_name, _, leaf = name.rpartition('.')
    owner = module.get_submodule(owner_name) if owner_name else module
    probe = {leaf: src.detach().clone()}
    for hook in owner._load_state_dict_pre_hooks.values():
        hook(probe, '', {}, False, [], [], [])
    return probe[leaf]


def verify_complete_loading(module: torch.nn.Module, pretrained: Dict[str, torch.Tensor],
                            prefix: str = PREFIX, random_by_design: Sequence[str] = (),
                            what: str = 'backbone',
                            resized_by_design: Sequence[str] = ()) -> List[str]:
    """Check every parameter / buffer of an initialised downstream ``module`` equals the
    checkpoint tensor ``pretrained[prefix + name]``.

    Args:
        module: the downstream backbone (or C4 shared head) after ``init_weights()``.
        pretrained: checkpoint state dict (with prefixes).
        random_by_design: names (relative to ``module``; a trailing ``.`` matches a prefix) that
            are expected NOT to come from the checkpoint, e.g. the extra norm after res5 of C4.
        resized_by_design: names whose checkpoint tensor has another shape and is resized by the
            module's own load hook (a ViT's ``pos_embed`` at a larger input size): the tensor
            must equal the checkpoint tensor passed through that hook (the owning module's
            load_state_dict pre-hooks).

    Returns:
        the names that were skipped as random by design.

    Raises:
        IncompleteLoadingError: listing every key that is missing from the checkpoint, has
            another shape, or was not loaded (still differs after init).
    """
    def by_design(name):
        return any(name == r or (r.endswith('.') and name.startswith(r))
                   for r in random_by_design)

    missing, shape, unloaded, skipped = [], [], [], []
    state = {k: v for k, v in module.state_dict().items() if not k.endswith('num_batches_tracked')}
    for name, tensor in state.items():
        if by_design(name):
            skipped.append(name)
            continue
        src = pretrained.get(prefix + name)
        if src is None:
            missing.append(name)
        elif name in resized_by_design and tuple(src.shape) != tuple(tensor.shape):
            if torch.equal(_through_load_hooks(module, name, src).to(tensor.dtype).cpu(),
                           tensor.detach().cpu()):
                skipped.append(f'{name} (resized {tuple(src.shape)} -> {tuple(tensor.shape)})')
            else:
                unloaded.append(name)
        elif tuple(src.shape) != tuple(tensor.shape):
            shape.append(f'{name} {tuple(tensor.shape)} vs checkpoint {tuple(src.shape)}')
        elif not torch.equal(src.to(tensor.dtype).cpu(), tensor.detach().cpu()):
            unloaded.append(name)
    if missing or shape or unloaded:
        lines = [f'{what}: {len(missing) + len(shape) + len(unloaded)} of '
                 f'{len(state)} tensors would stay random']
        if missing:
            lines.append(f'  not in the checkpoint (as "{prefix}<name>"): ' + ', '.join(missing[:20])
                         + (' ...' if len(missing) > 20 else ''))
        if shape:
            lines.append('  shape mismatch: ' + '; '.join(shape[:10]))
        if unloaded:
            lines.append('  present but not loaded by init_cfg: ' + ', '.join(unloaded[:20]))
        # (num_batches_tracked is excluded from the comparison, not missing from the model)
        unused = (set(k[len(prefix):] for k in pretrained if k.startswith(prefix))
                  - set(module.state_dict()))
        if unused:
            groups = sorted({k.split('.', 1)[0] for k in unused})
            lines.append(f'  {len(unused)} checkpoint tensors the model does not have, under: '
                         + ', '.join(groups[:15]) + (' ...' if len(groups) > 15 else ''))
        raise IncompleteLoadingError('\n'.join(lines))
    return skipped
