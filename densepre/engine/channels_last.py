"""Channels-last (NHWC) memory format for a model and its data preprocessor's output.

Convolutions in channels-last run faster with oneDNN on CPUs and with cuDNN / tensor cores on
GPUs (especially under AMP). Enabled by the top-level config field ``channels_last = True``
(read by ``DenseRunner``, so for pretraining and transfer configs alike):

* every 4-d parameter and buffer of the model (incl. EMA / momentum copies) becomes channels-last
  (``Module.to(memory_format=...)``; parameters keep their identity, so optimizers built later
  or earlier both see them); ``init_weights`` runs in the default layout, so the random init
  (and with it the whole run) is the same with and without channels-last, up to summation order;
* a forward hook on ``model.data_preprocessor`` makes the 4-d image tensors of its output
  (``inputs``: a tensor, or a list of per-view tensors) channels-last, so the first convolution
  gets NHWC input and no layer has to convert back and forth.

Values are unchanged: this is a layout, the maths is the same up to summation order.
"""
from typing import Any

import torch
import torch.nn as nn

__all__ = ['apply_channels_last', 'to_channels_last', 'is_channels_last']


def is_channels_last(x: torch.Tensor) -> bool:
    return x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last)


def to_channels_last(data: Any) -> Any:
    """4-d tensors (also inside lists, tuples and dicts) -> channels-last; the rest unchanged."""
    if isinstance(data, torch.Tensor):
        return data.contiguous(memory_format=torch.channels_last) if data.dim() == 4 else data
    if isinstance(data, dict):
        return type(data)((k, to_channels_last(v)) for k, v in data.items())
    if isinstance(data, (list, tuple)) and not hasattr(data, '_fields'):
        return type(data)(to_channels_last(v) for v in data)
    return data


def _preprocessor_hook(module: nn.Module, args, output):
    if isinstance(output, dict) and 'inputs' in output:
        output = dict(output)
        output['inputs'] = to_channels_last(output['inputs'])
        return output
    return output


def apply_channels_last(model: nn.Module, enabled: bool = True) -> nn.Module:
    """Convert ``model`` to channels-last and hook its ``data_preprocessor`` (idempotent).

    Args:
        model (nn.Module): an MMEngine ``BaseModel`` (not yet wrapped by DDP).
        enabled (bool): the config's ``channels_last``; ``False`` returns ``model`` untouched.
    """
    if not isinstance(enabled, bool):
        raise TypeError(f'config field channels_last must be True or False, got {enabled!r}')
    if not enabled or getattr(model, '_channels_last', False):
        return model
    preprocessor = getattr(model, 'data_preprocessor', None)
    if preprocessor is None:
        raise TypeError(f'channels_last=True needs a model with a data_preprocessor; '
                        f'{type(model).__name__} has none')
    model.to(memory_format=torch.channels_last)
    preprocessor.register_forward_hook(_preprocessor_hook)
    if hasattr(model, 'init_weights'):
        model.init_weights = _init_in_default_layout(model, model.init_weights)
    model._channels_last = True
    return model


def _init_in_default_layout(model: nn.Module, init_weights):
    """MMEngine initialises weights after the model is wrapped (``Runner.train`` ->
    ``init_weights``), and in-place initialisers (``normal_``, ``uniform_``) fill a tensor in
    *memory* order: in channels-last the same random stream would land on other weights, and
    switching ``channels_last`` on would change the run's random init. So initialise in the
    default layout and convert back (parameters keep their identity)."""

    def init_then_channels_last():
        model.to(memory_format=torch.contiguous_format)
        try:
            init_weights()
        finally:
            model.to(memory_format=torch.channels_last)

    return init_then_channels_last
