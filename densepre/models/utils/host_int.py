"""Host copies of small integer buffers (update counters, queue pointers).

Reading ``int(buffer)`` of a tensor on a GPU waits for every queued kernel. A module that is the
only writer of such a buffer knows its value: :func:`set_host_int` writes it (``fill_``, no read)
and remembers it, :func:`host_int` returns the remembered value. The device is read again only
when the buffer was changed behind the module's back — replaced (checkpoint load into a new
tensor, ``deepcopy``, ``.to()``) or modified in place (``load_state_dict``, ``zero_()``): the
entry is keyed by the tensor's identity and checked against its version counter.
"""
import weakref
from typing import Dict, Tuple

import torch

_CACHE: Dict[int, Tuple[weakref.ref, int, int]] = {}


def _remember(tensor: torch.Tensor, value: int) -> int:
    key = id(tensor)
    _CACHE[key] = (weakref.ref(tensor, lambda _, key=key: _CACHE.pop(key, None)), value,
                   tensor._version)
    return value


def host_int(tensor: torch.Tensor) -> int:
    """``int(tensor)`` (one element), read from the tensor only if it changed since the last
    :func:`host_int` / :func:`set_host_int`."""
    hit = _CACHE.get(id(tensor))
    if hit is not None and hit[0]() is tensor and hit[2] == tensor._version:
        return hit[1]
    return _remember(tensor, int(tensor))


def set_host_int(tensor: torch.Tensor, value: int) -> None:
    """``tensor.fill_(value)`` and remember ``value`` (no read of the tensor)."""
    tensor.fill_(int(value))
    _remember(tensor, int(value))
