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
3. checks the other direction too: every backbone tensor of the checkpoint is used by the
   downstream model (:func:`unused_tensors`); a tensor that is not (a LayerScale gamma, a ViT's
   ``cls_token``, a classifier ``fc``, a stray ``layer5.*``) fails the run naming it, unless it
   matches an ``ignore_keys`` pattern given deliberately (``--ignore-keys`` / the config's
   ``pretrained_ignore_keys``), which is printed.
"""
import ast
import fnmatch
import os
import os.path as osp
import re
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import torch

PREFIX = 'backbone.'


class IncompleteLoadingError(RuntimeError):
    """A downstream backbone parameter was not filled from the pretraining checkpoint."""


def _state_of(ckpt, path: str) -> Dict[str, torch.Tensor]:
    if isinstance(ckpt, dict):
        for key in ('state_dict', 'model', 'module'):
            if isinstance(ckpt.get(key), dict):
                return ckpt[key]
        if all(isinstance(v, torch.Tensor) for v in ckpt.values()):
            return ckpt
    raise ValueError(f'{path} holds no state dict (expected a dict with "state_dict")')


def load_checkpoint(path: str, trust: bool = False):
    """``(state dict, meta dict)`` of a densepre / MMEngine / plain torch checkpoint (see
    :func:`load_state_dict`); ``meta`` is ``{}`` when the file has none."""
    from densepre.engine.checkpoint_io import read_checkpoint
    ckpt = read_checkpoint(path, map_location='cpu', trust=trust)
    meta = ckpt.get('meta') if isinstance(ckpt, dict) else None
    return _state_of(ckpt, path), (meta if isinstance(meta, dict) else {})


def load_state_dict(path: str, trust: bool = False) -> Dict[str, torch.Tensor]:
    """The model state dict stored in a densepre / MMEngine / plain torch checkpoint.

    Loaded weights-only (no code in the file can run); densepre checkpoints are checksum-verified.
    A file that needs full unpickling (another toolbox's, or densepre's before weights-only
    checkpoints) is refused with an error saying why, unless ``trust`` (or the environment
    variable ``DENSEPRE_TRUST_CHECKPOINT=1``) is set.
    """
    return load_checkpoint(path, trust)[0]


def _prefixes(keys: Iterable[str]) -> List[str]:
    return sorted({k.split('.', 1)[0] + '.' for k in keys})


#: ``meta`` key of a pretraining checkpoint naming the backbone its method reports.
REPORTED_KEY = 'reported_weights'
WEIGHTS = ('online', 'teacher')


def reported_weights_of_model(model) -> str:
    """The backbone a pretraining algorithm's paper evaluates: its class attribute
    ``reported_weights`` (``'teacher'`` for LOCA, appendix A.1), else ``'online'``."""
    value = getattr(model, 'reported_weights', 'online')
    if value not in WEIGHTS:
        raise ValueError(f'{type(model).__name__}.reported_weights must be one of {WEIGHTS}, '
                         f'got {value!r}')
    return value


def _model_type_from_cfg(cfg_text) -> Optional[str]:
    """``type`` of the top-level ``model = dict(type=...)`` of a config text (MMEngine stores
    ``cfg.pretty_text`` in ``meta['cfg']``), read with ``ast``: the text is never executed."""
    if not isinstance(cfg_text, str):
        return None
    try:
        tree = ast.parse(cfg_text)
    except SyntaxError:
        return None
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == 'model' for t in node.targets) \
                and isinstance(node.value, ast.Call):
            for kw in node.value.keywords:
                if kw.arg == 'type' and isinstance(kw.value, ast.Constant) \
                        and isinstance(kw.value.value, str):
                    return kw.value.value
    return None


def reported_weights(meta: dict) -> Tuple[Optional[str], str]:
    """``(weights, why)``: which backbone (``'online'`` / ``'teacher'``) a checkpoint's method
    reports, from ``meta['reported_weights']`` (written by densepre's runner), else from the
    algorithm class named in ``meta['cfg']``; ``(None, why)`` when the checkpoint records
    neither (imported / backbone-only files: the online backbone is used)."""
    value = meta.get(REPORTED_KEY)
    if value is not None:
        if value not in WEIGHTS:
            raise ValueError(f'checkpoint meta "{REPORTED_KEY}" must be one of {WEIGHTS}, '
                             f'got {value!r}')
        return value, f'the checkpoint records that its method reports the {value} backbone'
    model_type = _model_type_from_cfg(meta.get('cfg'))
    if model_type:
        from densepre.registry import MODELS
        from densepre.utils import register_all_modules
        register_all_modules(init_default_scope=False)
        cls = MODELS.get(model_type)
        if cls is not None:
            value = reported_weights_of_model(cls)
            return value, f'{model_type} (checkpoint config) reports its {value} backbone'
    return None, 'the checkpoint does not record which backbone its method reports'


def extract_backbone(src: str, dst: Optional[str] = None, prefix: str = PREFIX,
                     extra_prefixes: Sequence[str] = (),
                     trust: bool = False, teacher: Optional[bool] = None,
                     log: Optional[Callable[[str], None]] = None,
                     loaded: Optional[tuple] = None) -> Dict[str, torch.Tensor]:
    """Keep the backbone (keys under ``prefix``) of a pretraining checkpoint.

    Which backbone: ``teacher=None`` (default) takes the one the checkpoint's method reports
    (:func:`reported_weights`: LOCA's teacher, LOCA appendix A.1; the online backbone for the
    others and for checkpoints that do not say); ``teacher=True`` / ``False`` (``--teacher`` /
    ``--student``) force the EMA teacher's (``<teacher>.module.backbone.*``, e.g. ``teacher.`` /
    ``target_net.`` / ``encoder_k.``, renamed to ``backbone.*``) / the online one. The choice is
    passed to ``log`` (default: MMEngine's current logger) and recorded in the written file's meta.

    The other copies and the heads are dropped. The result keeps the ``backbone.`` prefix so the
    same ``init_cfg`` works for raw and extracted files. Written atomically to ``dst`` if given, as
    ``{'state_dict': ..., 'meta': ...}``. ``trust``: see :func:`load_state_dict`. ``loaded``: the
    ``(state, meta)`` of ``src`` already read by :func:`load_checkpoint` (the file is then not read
    again).
    """
    state, meta = loaded if loaded is not None else load_checkpoint(src, trust=trust)
    reported, why = reported_weights(meta)
    if teacher is None:
        use_teacher = reported == 'teacher'
        text = (f'backbone weights: {"teacher" if use_teacher else "online (student)"} -- {why}'
                + ('; --student for the online backbone' if use_teacher else
                   '; --teacher for the EMA teacher\'s'))
    else:
        use_teacher = bool(teacher)
        text = (f'backbone weights: {"teacher" if use_teacher else "online (student)"} -- '
                f'{"--teacher" if use_teacher else "--student"} given'
                + (f' ({why})' if reported is not None else ''))
    if use_teacher:
        owners = sorted({m.group(1) for k in state
                         for m in [re.match(r'^(.+?)\.module\.backbone\.', k)] if m})
        if len(owners) != 1:
            raise KeyError(f'checkpoint {src}: the teacher backbone needs exactly one EMA teacher '
                           f'("<name>.module.backbone.*"), found {owners or "none"} (top-level '
                           f'prefixes {_prefixes(state)[:10]})'
                           + ('; pass --student for the online backbone' if teacher is None
                              else ''))
        old = f'{owners[0]}.module.backbone.'
        state = {prefix + k[len(old):]: v for k, v in state.items() if k.startswith(old)}
    kept = {k: v for k, v in state.items()
            if k.startswith(prefix) or k.startswith(tuple(extra_prefixes))}
    if not kept:
        raise KeyError(f'checkpoint {src} has no "{prefix}" keys (its top-level prefixes are '
                       f'{_prefixes(state)[:10]}); is it a densepre / mmpretrain pretraining '
                       'checkpoint? Give a backbone-only file its "backbone." prefix.')
    if log is None:
        from mmengine.logging import print_log
        print_log(f'{src}: {text}', logger='current')
    else:
        log(f'{src}: {text}')
    kept = {k: v.detach().cpu().contiguous() for k, v in kept.items()}
    if dst is not None:
        os.makedirs(osp.dirname(osp.abspath(dst)), exist_ok=True)
        tmp = dst + '.part'
        torch.save({'state_dict': kept, 'meta': {'source': osp.abspath(src), 'prefix': prefix,
                                                  'teacher': use_teacher,
                                                  'weights': 'teacher' if use_teacher else 'online',
                                                  REPORTED_KEY: 'online'}},
                   tmp)
        os.replace(tmp, dst)
    return kept


def matches_ignore(name: str, patterns: Sequence[str], prefix: str = PREFIX) -> bool:
    """``name`` (relative to ``prefix``, or with it) matches one of the shell-style ``patterns``
    (``fnmatch``: ``fc.*``, ``layer4.*``, ``cls_token``)."""
    full = prefix + name
    return any(fnmatch.fnmatchcase(name, p) or fnmatch.fnmatchcase(full, p) for p in patterns)


def unused_tensors(pretrained: Dict[str, torch.Tensor], used: Iterable[str],
                   prefix: str = PREFIX, ignore_keys: Sequence[str] = ()):
    """Checkpoint tensors under ``prefix`` that no downstream module uses.

    Args:
        pretrained: checkpoint state dict (with prefixes).
        used: names (relative to ``prefix``) the downstream modules hold.
        ignore_keys: shell-style patterns of tensors dropped deliberately.

    Returns:
        ``(unused, ignored)``: sorted relative names; BN ``num_batches_tracked`` counters are in
        neither (they are step counters, not weights).
    """
    used = set(used)
    unused, ignored = [], []
    for key in pretrained:
        if not key.startswith(prefix) or key.endswith('num_batches_tracked'):
            continue
        name = key[len(prefix):]
        if name in used:
            continue
        (ignored if matches_ignore(name, ignore_keys, prefix) else unused).append(name)
    return sorted(unused), sorted(ignored)


def unused_error(unused: Sequence[str], what: str, prefix: str = PREFIX) -> IncompleteLoadingError:
    groups = sorted({k.split('.', 1)[0] for k in unused})
    return IncompleteLoadingError(
        f'{what}: {len(unused)} checkpoint tensor(s) under "{prefix}" are not used by the model '
        f'(would be dropped silently): ' + ', '.join(unused[:20])
        + (' ...' if len(unused) > 20 else '') + f' (under: {", ".join(groups[:15])}). If '
        'dropping them is deliberate (e.g. a classifier head), pass --ignore-keys PATTERN '
        "(shell-style, e.g. 'fc.*'; config: pretrained_ignore_keys = ['fc.*']); otherwise "
        'configure the model so that it uses them (e.g. with_cls_token=True, '
        'layer_scale_init_value > 0).')


def add_weights_arguments(parser) -> None:
    """``--teacher`` / ``--student`` (default None: what the checkpoint's method reports) and
    ``--ignore-keys PATTERN ...`` for a benchmark tool's argument parser."""
    which = parser.add_mutually_exclusive_group()
    which.add_argument('--teacher', dest='teacher', action='store_const', const=True,
                       default=None, help="the EMA teacher's backbone (<name>.module.backbone.*)")
    which.add_argument('--student', dest='teacher', action='store_const', const=False,
                       help='the online (student) backbone. Default: the backbone the '
                       "checkpoint's method reports (LOCA: its teacher; others: online), printed")
    parser.add_argument('--ignore-keys', nargs='+', default=[], metavar='PATTERN',
                        help="checkpoint backbone tensors (shell-style, e.g. 'fc.*') that may stay "
                        'unused; any other unused tensor is an error')


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
                            resized_by_design: Sequence[str] = (),
                            ignore_keys: Optional[Sequence[str]] = ()) -> List[str]:
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
        ignore_keys: shell-style patterns of checkpoint tensors the module may leave unused
            (deliberate drops); every other checkpoint tensor under ``prefix`` must be used by
            ``module``. ``None``: no check in this direction (the caller checks the union of
            several modules, see :func:`densepre.transfer.downstream.verify`).

    Returns:
        the names that were skipped as random by design.

    Raises:
        IncompleteLoadingError: listing every key that is missing from the checkpoint, has
            another shape, or was not loaded (still differs after init); or every checkpoint
            tensor the module does not use.
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
    if ignore_keys is not None:
        unused, _ = unused_tensors(pretrained, module.state_dict(), prefix, ignore_keys)
        if unused:
            raise unused_error(unused, what, prefix)
    return skipped
