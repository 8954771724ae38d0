"""One EMA teacher (momentum / target network) for any set of online modules.

BYOL Eq. 1 / MoCo Eq. 2, with MMEngine's convention for the coefficient (``momentum`` = 1 − τ,
the weight of the *online* value)::

    ξ ← τ·ξ + (1 − τ)·θ,        τ = 1 − momentum

``end_momentum=None``: τ fixed (MoCo's 0.999 is ``momentum=0.001``). Otherwise τ follows BYOL's
cosine schedule (BYOL Sec. 3.2, ``τ = 1 − (1 − τ_base)·(cos(πk/K) + 1)/2``), written as
mmpretrain's ``CosineEMA`` writes it::

    momentum_k = end − (end − momentum)·(cos(π·k/K) + 1)/2,     K = MessageHub ``max_iters``

with ``k`` the number of updates done so far (the first call copies θ into ξ, k = 0). The values
are those of ``CosineEMA`` bit for bit (including its float32 ``π·k/K``), so existing configs
and checkpoints keep their schedule.

Buffer policies (``buffers``):

* ``'copy'`` — buffers (BN running statistics) are copied from the online network at every
  update and the teacher runs in train mode: its BN normalises with the batch's statistics
  (BYOL, MoCo, mmpretrain's default).
* ``'ema'`` — floating-point buffers are averaged like parameters, the teacher still runs in
  train mode. Its BN output then does not depend on those running statistics at all: this is
  densepre's former ``ema_buffers=True``, kept only to reproduce old runs.
* ``'eman'`` — EMAN (Cai et al., 2021, "Exponential Moving Average Normalization"; LEWEL Sec. 3.3
  "EMA BN statistics in the momentum encoder"): buffers averaged as in ``'ema'`` **and** the
  teacher always runs in eval mode, so its BN normalises with the EMA'd running statistics.

Robust to device moves, dtype casts and ``deepcopy``: the teacher is a registered submodule
(``.module``, an ``nn.ModuleDict`` named like the online attributes) and the (teacher, online)
tensor pairs are looked up by name at every update — no reference to a tensor is kept across
calls, so ``model.to('cuda')`` / ``.to(torch.float64)`` / ``copy.deepcopy(model)`` update the
tensors that actually run.
"""
import copy
from collections import OrderedDict
from math import cos, pi
from typing import Dict, Iterator, List, Mapping, Optional, Tuple

import numpy as np
import torch
import torch.nn as nn
from mmengine.logging import MessageHub

from densepre.registry import MODELS
from .host_int import host_int, set_host_int

BUFFER_POLICIES = ('copy', 'ema', 'eman')


@MODELS.register_module()
class EMATeacher(nn.Module):
    """EMA copy of the online modules ``online`` (a mapping name → module).

    Args:
        online (Mapping[str, nn.Module]): the online modules, e.g. ``{'backbone': ..., 'neck':
            ...}``. They are deep-copied once; :meth:`update` must then receive modules with
            the same names and structure.
        momentum (float): ``1 − τ`` (start value with a cosine schedule).
        end_momentum (float, optional): ``1 − τ_end`` of the cosine schedule (0 for τ → 1);
            ``None`` for a fixed τ. Defaults to None.
        buffers (str): ``'copy'``, ``'ema'`` or ``'eman'`` (see the module docstring).
        interval (int): average on every ``interval``-th update (updates ``interval − 1``,
            ``2·interval − 1``, …, counted from 0; the first update only copies). Defaults to 1.
        momentum_lag (int): evaluate the cosine schedule ``momentum_lag`` updates back
            (``k = steps − lag``, its angle in float64 as the releases compute it in Python). 1
            for an update made at the start of iteration ``i`` that stands for the BYOL / LEWEL
            releases' update after the optimizer step of iteration ``i − 1``, with that
            iteration's momentum. Defaults to 0 (mmpretrain's ``CosineEMA``).
    """

    def __init__(self,
                 online: Mapping[str, nn.Module],
                 momentum: float,
                 end_momentum: Optional[float] = None,
                 buffers: str = 'copy',
                 interval: int = 1,
                 momentum_lag: int = 0) -> None:
        super().__init__()
        if buffers not in BUFFER_POLICIES:
            raise ValueError(f'EMATeacher buffers must be one of {BUFFER_POLICIES}, '
                             f'got {buffers!r}')
        if not 0.0 < momentum < 1.0:
            raise ValueError(f'EMATeacher momentum is 1 - tau (e.g. 0.001 for tau = 0.999) and '
                             f'must be in (0, 1), got {momentum}')
        self.module = nn.ModuleDict({name: copy.deepcopy(m) for name, m in online.items()})
        self.module.requires_grad_(False)
        self.momentum = float(momentum)
        self.end_momentum = None if end_momentum is None else float(end_momentum)
        self.buffers_policy = buffers
        self.interval = int(interval)
        self.momentum_lag = int(momentum_lag)
        self.register_buffer('steps', torch.tensor(0, dtype=torch.long))
        self.train(self.training)

    # ------------------------------------------------------------------ access
    def __getitem__(self, name: str) -> nn.Module:
        return self.module[name]

    def __contains__(self, name: str) -> bool:
        return name in self.module

    @property
    def eman(self) -> bool:
        return self.buffers_policy == 'eman'

    def train(self, mode: bool = True) -> 'EMATeacher':
        """EMAN keeps the teacher in eval mode whatever the parent's mode."""
        super().train(mode)
        if self.eman:
            self.module.eval()
        return self

    def forward(self, *args, **kwargs):
        raise RuntimeError('call the teacher modules by name, e.g. teacher["backbone"](x)')

    # ------------------------------------------------------------------ update
    def current_momentum(self) -> float:
        """``1 − τ`` used by the next averaging update (at update count ``k = steps``)."""
        if self.end_momentum is None:
            return self.momentum
        max_iters = MessageHub.get_current_instance().get_info('max_iters')
        if max_iters is None:
            raise RuntimeError('the cosine EMA schedule needs the total number of iterations: '
                               'MessageHub info "max_iters" is not set (the Runner sets it)')
        if self.momentum_lag:  # float64, as the releases compute it in Python
            angle = pi * (self.step_count() - self.momentum_lag) / float(max_iters)
        else:
            # float32 angle, exactly as mmpretrain's CosineEMA computes it from its long `steps`
            # (`pi * steps / max_iters` on a long tensor: float32 multiply, then float32 divide),
            # computed on the host count so that no tensor is read
            angle = float(np.float32(pi) * np.float32(self.step_count()) / np.float32(max_iters))
        annealing = (cos(angle) + 1) / 2
        return self.end_momentum - (self.end_momentum - self.momentum) * annealing

    def _pairs(self, online: Mapping[str, nn.Module], buffers: bool
               ) -> Iterator[Tuple[str, torch.Tensor, torch.Tensor]]:
        """(name, teacher tensor, online tensor), looked up now (never cached)."""
        if list(online.keys()) != list(self.module.keys()):
            raise KeyError(f'EMATeacher was built for {list(self.module.keys())}, '
                           f'updated with {list(online.keys())}')
        for key, src_module in online.items():
            dst_module = self.module[key]
            if buffers:
                dst, src = dict(dst_module.named_buffers()), dict(src_module.named_buffers())
            else:
                dst, src = (dict(dst_module.named_parameters()),
                            dict(src_module.named_parameters()))
            if dst.keys() != src.keys():
                raise KeyError(f'EMATeacher: teacher and online "{key}" differ in '
                               f'{sorted(set(dst) ^ set(src))[:5]}')
            for name, t in dst.items():
                yield f'{key}.{name}', t, src[name]

    def step_count(self) -> int:
        """``int(self.steps)`` without reading the tensor at every update (:mod:`.host_int`)."""
        return host_int(self.steps)

    @torch.no_grad()
    def update(self, online: Mapping[str, nn.Module]) -> None:
        """One EMA step ``ξ ← τ·ξ + (1 − τ)·θ``; the first call copies ``θ`` (and all buffers).

        Fused: one ``torch._foreach_*`` call per operation and (device, dtype) group instead of
        one kernel per tensor; the results are bit-identical to the per-tensor update (same
        kernels). No tensor value is read on the host (the update count is mirrored on it)."""
        steps = self.step_count()
        first = steps == 0
        # with an interval, average on the last call of each window of `interval` calls (the
        # last micro-batch of a gradient-accumulation window, where CLoVE's release does it)
        average = not first and (steps + 1) % self.interval == 0
        momentum = self.current_momentum() if average else None
        copies: Dict[tuple, Tuple[List[torch.Tensor], List[torch.Tensor]]] = OrderedDict()
        averages: Dict[tuple, Tuple[List[torch.Tensor], List[torch.Tensor]]] = OrderedDict()

        def add(bucket, dst, src):
            dsts, srcs = bucket.setdefault((dst.device, dst.dtype, src.dtype), ([], []))
            dsts.append(dst)
            srcs.append(src.to(dst.device))

        for _, dst, src in self._pairs(online, buffers=False):
            if first:
                add(copies, dst, src)
            elif average:
                add(averages, dst, src)
        for _, dst, src in self._pairs(online, buffers=True):
            if first or self.buffers_policy == 'copy' or not dst.is_floating_point():
                add(copies, dst, src)
            elif average:
                add(averages, dst, src)
        for dsts, srcs in copies.values():
            torch._foreach_copy_(dsts, srcs)
        for dsts, srcs in averages.values():
            self._average(dsts, srcs, momentum)
        set_host_int(self.steps, steps + 1)

    def _average(self, dst: List[torch.Tensor], src: List[torch.Tensor],
                 momentum: float) -> None:
        # the same kernels as MMEngine's ExponentialMovingAverage (lerp) and mmpretrain's
        # CosineEMA (mul/add), so the averages are bit-identical to theirs
        if self.end_momentum is None:
            torch._foreach_lerp_(dst, src, momentum)
        else:
            torch._foreach_mul_(dst, 1 - momentum)
            torch._foreach_add_(dst, src, alpha=momentum)

    def extra_repr(self) -> str:
        schedule = ('fixed' if self.end_momentum is None else
                    f'cosine to end_momentum={self.end_momentum}')
        return (f'momentum={self.momentum} ({schedule}), buffers={self.buffers_policy!r}, '
                f'interval={self.interval}')

    # ------------------------------------------------------------------ checkpoints
    @staticmethod
    def legacy_key_map(names: Tuple[str, ...]) -> Dict[str, str]:
        """Old ``Sequential(backbone, neck)`` EMA keys (``module.0.``) → named keys."""
        return {f'module.{i}.': f'module.{n}.' for i, n in enumerate(names)}

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # checkpoints of MMEngine's averaged model of Sequential(backbone, neck): module.0/1
        mapping = self.legacy_key_map(tuple(self.module.keys())[:2])
        for key in [k for k in state_dict if k.startswith(prefix + 'module.')]:
            rest = key[len(prefix):]
            for old, new in mapping.items():
                if rest.startswith(old):
                    state_dict[prefix + new + rest[len(old):]] = state_dict.pop(key)
                    break
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


class EMATeacherMixin:
    """For an algorithm with ONE :class:`EMATeacher` of its online modules (BYOL's target
    network ξ, MoCo's key encoder): builds it, names it and updates it.

    The class sets :attr:`teacher_attr` (the attribute holding the teacher, hence its
    ``state_dict`` prefix) and :meth:`teacher_kwargs` (momentum schedule, buffer policy);
    :meth:`online_modules` (backbone + neck by default) lists what the teacher averages. The
    teacher is built at the end of ``__init__`` unless ``_build_teacher_in_init`` is False, for
    subclasses that add online modules later and then call :meth:`build_teacher` themselves.
    """

    #: the attribute (and state_dict prefix) of the teacher, e.g. ``'target_net'``
    teacher_attr: str
    #: subclasses that add online modules after ``__init__`` build the teacher themselves
    _build_teacher_in_init = True

    def online_modules(self) -> Dict[str, nn.Module]:
        """The online modules θ the teacher averages (names = attribute names)."""
        return OrderedDict(backbone=self.backbone, neck=self.neck)

    def __init_subclass__(cls, **kwargs):
        """Refuse, when the class is defined, an algorithm that does not say where its teacher
        lives (``teacher_attr``) and how it averages (``teacher_kwargs()``: the
        :class:`EMATeacher` arguments besides the online modules)."""
        super().__init_subclass__(**kwargs)
        missing = [name for name in ('teacher_attr', 'teacher_kwargs') if not hasattr(cls, name)]
        if missing:
            raise TypeError(f'{cls.__name__} uses EMATeacherMixin but does not define '
                            f'{" and ".join(missing)}')

    def build_teacher(self) -> None:
        setattr(self, self.teacher_attr,
                EMATeacher(self.online_modules(), **self.teacher_kwargs()))

    @property
    def teacher(self) -> EMATeacher:
        return getattr(self, self.teacher_attr)

    @torch.no_grad()
    def update_teacher(self) -> None:
        """ξ ← τξ + (1 − τ)θ (BYOL Eq. 1; MoCo Eq. 2 with m = τ); the first call copies θ."""
        self.teacher.update(self.online_modules())
