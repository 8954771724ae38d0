"""Checkpoints that load with ``torch.load(weights_only=True)`` and carry a checksum.

Unpickling a file runs any code the file names (``__reduce__``), so densepre never fully unpickles a
checkpoint unless the user says they trust it (``--trust-checkpoint``). MMEngine checkpoints hold a
few non-tensor objects (``HistoryBuffer`` in the message hub, numpy arrays in the RNG state and in
the dataset meta, numpy scalars); densepre stores those in a tagged plain form before writing
(:func:`encode`) and rebuilds them after a weights-only load (:func:`decode`). The encoded
checkpoint also records a SHA-256 over its content (:func:`content_digest`), verified on load, so a
flipped byte inside a tensor is an error naming the file instead of silently different weights.
"""
import contextlib
import hashlib
import logging
import os
import os.path as osp
import pickle
from typing import Any, Callable, Optional, Union

import numpy as np
import torch
from mmengine.logging import print_log

TAG = '__densepre_type__'
DIGEST_KEY = 'densepre_sha256'
TRUST_ENV = 'DENSEPRE_TRUST_CHECKPOINT'  # '1': full unpickling for tools without the flag


class UntrustedCheckpointError(RuntimeError):
    """A checkpoint needs full unpickling (it may run code) and was not marked as trusted."""


class CorruptCheckpointError(RuntimeError):
    """A checkpoint cannot be read, or its content does not match its recorded checksum."""


def trust_from_env() -> bool:
    return os.environ.get(TRUST_ENV, '') not in ('', '0', 'false', 'False')


# ----------------------------------------------------------------------------- encode / decode
def _ndarray_to_tensor(arr: np.ndarray) -> torch.Tensor:
    if arr.dtype == np.uint32:  # no torch equivalent on every version: store as int64
        return torch.from_numpy(arr.astype(np.int64))
    return torch.from_numpy(np.ascontiguousarray(arr))


def encode(obj: Any) -> Any:
    """``obj`` with every numpy / MMEngine object replaced by plain containers and tensors."""
    from mmengine.logging import HistoryBuffer
    if isinstance(obj, np.generic):  # before the primitives: np.float64 is a float subclass
        return {TAG: 'npscalar', 'dtype': obj.dtype.str, 'value': obj.item()}
    if isinstance(obj, (torch.Tensor, torch.dtype, torch.device, torch.Size)) or obj is None or \
            type(obj) in (bool, int, float, str, bytes, complex):
        return obj
    if isinstance(obj, HistoryBuffer):
        logs, counts = obj.data
        return {TAG: 'HistoryBuffer', 'log_history': encode(np.asarray(logs)),
                'count_history': encode(np.asarray(counts)), 'max_length': obj.max_length}
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind in 'biuf':
            return {TAG: 'ndarray', 'dtype': obj.dtype.str, 'data': _ndarray_to_tensor(obj)}
        if obj.dtype.kind in 'OUS':  # strings / objects (dataset meta): a nested list
            return {TAG: 'ndarray', 'dtype': obj.dtype.str, 'list': encode(obj.tolist())}
        raise TypeError(f'cannot store a numpy array of dtype {obj.dtype} weights-only')
    if isinstance(obj, dict):
        out = {k: encode(v) for k, v in obj.items()}
        return type(obj)(out) if type(obj) is not dict and _plain_dict(obj) else out
    if isinstance(obj, tuple) and type(obj) is tuple:
        return tuple(encode(v) for v in obj)
    if isinstance(obj, list):
        return [encode(v) for v in obj]
    if isinstance(obj, (set, frozenset)):
        return {TAG: 'set', 'items': [encode(v) for v in obj]}
    raise TypeError(f'cannot store a {type(obj).__module__}.{type(obj).__qualname__} '
                    'weights-only')


def _plain_dict(obj) -> bool:
    from collections import OrderedDict
    return type(obj) is OrderedDict


def decode(obj: Any) -> Any:
    """Inverse of :func:`encode`."""
    if isinstance(obj, dict):
        tag = obj.get(TAG)
        if tag == 'HistoryBuffer':
            from mmengine.logging import HistoryBuffer
            return HistoryBuffer(decode(obj['log_history']), decode(obj['count_history']),
                                 obj['max_length'])
        if tag == 'ndarray':
            if 'data' in obj:
                return obj['data'].cpu().numpy().astype(np.dtype(obj['dtype']))
            return np.array(decode(obj['list']), dtype=np.dtype(obj['dtype']))
        if tag == 'npscalar':
            return np.dtype(obj['dtype']).type(obj['value'])
        if tag == 'set':
            return set(decode(v) for v in obj['items'])
        out = {k: decode(v) for k, v in obj.items()}
        return type(obj)(out) if type(obj) is not dict else out
    if isinstance(obj, tuple):
        return tuple(decode(v) for v in obj)
    if isinstance(obj, list):
        return [decode(v) for v in obj]
    return obj


# ----------------------------------------------------------------------------- checksum
def content_digest(obj: Any) -> str:
    """SHA-256 over the content of a (decoded or encoded) checkpoint: every tensor's dtype, shape
    and bytes and every other value's repr, in key order. The digest entry itself is excluded."""
    h = hashlib.sha256()

    def walk(x, path):
        if isinstance(x, torch.Tensor):
            t = x.detach().cpu().contiguous()
            h.update(f'{path}:T:{t.dtype}:{tuple(t.shape)}:'.encode())
            if t.numel():
                h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
        elif isinstance(x, dict):
            keys = sorted((k for k in x if not (path == '' and k == DIGEST_KEY)), key=repr)
            h.update(f'{path}:D{len(keys)}:'.encode())
            for k in keys:
                walk(x[k], f'{path}/{k!r}')
        elif isinstance(x, (list, tuple)):
            h.update(f'{path}:L{len(x)}:'.encode())
            for i, v in enumerate(x):
                walk(v, f'{path}[{i}]')
        else:
            h.update(f'{path}:{x!r}:'.encode())

    walk(obj, '')
    return h.hexdigest()


def encode_checkpoint(checkpoint: dict) -> dict:
    """The weights-only form of an MMEngine checkpoint dict, with its checksum (in place)."""
    encoded = encode(checkpoint)
    checkpoint.clear()
    checkpoint.update(encoded)
    checkpoint[DIGEST_KEY] = content_digest(checkpoint)
    return checkpoint


# ----------------------------------------------------------------------------- reading
@contextlib.contextmanager
def trusted_torch_load():
    """Let ``torch.load`` fully unpickle (only for files the user marked as trusted with
    ``--trust-checkpoint``, e.g. read through MMEngine's remote-file loaders)."""
    old = os.environ.get('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD')
    os.environ['TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD'] = '1'
    try:
        yield
    finally:
        if old is None:
            os.environ.pop('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', None)
        else:
            os.environ['TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD'] = old


def _unsafe_globals(path: str):
    try:
        return torch.serialization.get_unsafe_globals_in_checkpoint(path)
    except Exception:  # noqa: BLE001 - only used to word the error
        return []


def torch_load(path_or_file: Union[str, Any], map_location: Union[str, Callable, None] = 'cpu',
               trust: bool = False, name: Optional[str] = None) -> Any:
    """``torch.load`` weights-only, or fully unpickling only when ``trust`` is set (with a
    warning). Errors name the file and say what to do."""
    name = name or str(path_or_file)
    if trust:
        print_log(f'loading {name} with full unpickling (--trust-checkpoint): a pickle can run '
                  'any code it names; do this only for files you or a trusted source wrote',
                  logger='current', level=logging.WARNING)
        try:
            return torch.load(path_or_file, map_location=map_location, weights_only=False)
        except Exception as e:  # noqa: BLE001
            raise CorruptCheckpointError(f'cannot load checkpoint {name}: {type(e).__name__}: '
                                         f'{e}') from e
    try:
        return torch.load(path_or_file, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        msg = str(e)
        if 'Weights only load failed' not in msg and 'Unsupported global' not in msg:
            raise CorruptCheckpointError(
                f'cannot load checkpoint {name}: {type(e).__name__}: {msg.splitlines()[0]}. '
                'The file may be truncated or corrupt (e.g. a killed copy).') from e
        found = _unsafe_globals(path_or_file) if isinstance(path_or_file, str) else []
        what = (f'it names the Python objects {found[:6]}' if found
                else 'it contains Python objects other than tensors and plain containers')
        raise UntrustedCheckpointError(
            f'refusing to unpickle checkpoint {name}: {what}, and unpickling runs whatever code '
            'such objects name. densepre loads checkpoints weights-only (tensors, numbers, '
            'strings, lists, dicts); its own checkpoints are stored that way. If you trust this '
            'file (e.g. written by another MMEngine toolbox or by densepre before weights-only '
            f'checkpoints), pass --trust-checkpoint (or set {TRUST_ENV}=1 for tools without '
            'that flag).') from None
    except Exception as e:  # noqa: BLE001 - truncated zip, bad magic number ...
        raise CorruptCheckpointError(
            f'cannot load checkpoint {name}: {type(e).__name__}: {e}. The file may be truncated '
            'or corrupt (e.g. a killed copy).') from e


def read_checkpoint(path: str, map_location: Union[str, Callable, None] = 'cpu',
                    trust: bool = False) -> Any:
    """Load a checkpoint file safely; decode densepre's weights-only form and verify its
    checksum. Files without a checksum (other toolboxes, older densepre) load unverified."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'checkpoint not found: {path}')
    ckpt = torch_load(path, map_location, trust=trust or trust_from_env())
    return verify_and_decode(ckpt, path)


def verify_and_decode(ckpt: Any, name: str) -> Any:
    if isinstance(ckpt, dict) and DIGEST_KEY in ckpt:
        stored = ckpt.pop(DIGEST_KEY)
        actual = content_digest(ckpt)
        if stored != actual:
            raise CorruptCheckpointError(
                f'checkpoint {name} is corrupt: its content does not match the SHA-256 recorded '
                f'when it was written ({stored[:12]}... vs {actual[:12]}...). Use an earlier '
                'checkpoint of the work dir (densepre keeps them intact).')
        return decode(ckpt)
    if _has_tags(ckpt):
        # densepre's weights-only form without its checksum: re-saved by another tool (which
        # dropped the key). Decode it (undecoded, MMEngine fails with "KeyError: 0"), but say
        # that its content is unverified.
        print_log(f'checkpoint {name} is in densepre\'s weights-only format but has no '
                  f'"{DIGEST_KEY}" checksum (re-saved by another tool?): its content cannot be '
                  'verified against what was trained', logger='current', level=logging.WARNING)
        return decode(ckpt)
    return ckpt


def _has_tags(obj: Any, depth: int = 0) -> bool:
    """Whether ``obj`` holds an :func:`encode`-tagged value (densepre's weights-only form)."""
    if depth > 6:
        return False
    if isinstance(obj, dict):
        return TAG in obj or any(_has_tags(v, depth + 1) for v in obj.values()
                                 if isinstance(v, (dict, list, tuple)))
    if isinstance(obj, (list, tuple)):
        return any(_has_tags(v, depth + 1) for v in obj[:64] if isinstance(v, (dict, list)))
    return False
