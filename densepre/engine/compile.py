"""``torch.compile`` for densepre algorithms: the networks, not the training step.

MMEngine's ``compile`` config key compiles ``model.train_step`` as a whole. A densepre step holds
the backward pass, the optimizer update, the EMA teacher update and queue writes, none of which
Dynamo captures as a graph; what gains from compilation is the networks. :func:`compile_parts`
compiles, in place (``nn.Module.compile``: parameter names and checkpoints are unchanged), every
direct child of the algorithm that has parameters — backbone, neck, projectors, and the networks
inside the heads (predictors) — except the EMA teacher, the feature queues and the data
preprocessor.
:class:`~densepre.engine.DenseRunner` calls it for ``compile=True`` / ``compile=dict(...)`` (the
dict is passed to ``torch.compile``, e.g. ``dict(backend='inductor', mode='max-autotune')``).

Refused (``ValueError`` naming the key) when torch has no Dynamo for this Python version.
"""
from typing import List, Optional, Union

import torch
import torch.nn as nn

#: children never compiled: EMA copies, queues, the data preprocessor (no parameters to speak
#: of, or updated outside any forward)
SKIP_TYPES = ('EMATeacher', 'FeatureQueue', 'BaseDataPreprocessor')


def _skipped(module: nn.Module) -> bool:
    names = {cls.__name__ for cls in type(module).__mro__}
    return bool(names & set(SKIP_TYPES))


def compile_cfg_of(value: Union[None, bool, dict]) -> Optional[dict]:
    """``compile`` config value -> ``torch.compile`` kwargs, or None (not compiled)."""
    if value is None or value is False:
        return None
    if value is True:
        return {}
    if isinstance(value, dict):
        return dict(value)
    raise ValueError(f'config key `compile` must be a bool or a dict of torch.compile '
                     f'arguments, got {value!r}')


def _has_params(module: nn.Module) -> bool:
    return any(True for _ in module.parameters())


def compilable_parts(model: nn.Module) -> List[str]:
    """Names of the modules :func:`compile_parts` compiles: the algorithm's children with
    parameters; for a head (mmpretrain convention: it has a ``loss`` method, which the
    algorithm calls instead of ``forward``), its children with parameters (``head.predictor``)."""
    names = []
    for name, child in model.named_children():
        if _skipped(child) or not _has_params(child):
            continue
        if callable(getattr(child, 'loss', None)):
            names += [f'{name}.{sub}' for sub, grandchild in child.named_children()
                      if _has_params(grandchild)]
        else:
            names.append(name)
    return names


def compile_parts(model: nn.Module, compile_cfg: Union[bool, dict]) -> List[str]:
    """Compile the networks of ``model`` in place; returns their names."""
    kwargs = compile_cfg_of(compile_cfg)
    if kwargs is None:
        return []
    if not hasattr(torch, 'compile') or not torch._dynamo.is_dynamo_supported():
        raise ValueError('config key `compile`: torch.compile is not supported by this torch / '
                         'Python build')
    names = compilable_parts(model)
    for name in names:
        model.get_submodule(name).compile(**kwargs)
    return names
