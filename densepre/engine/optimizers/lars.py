"""LARS (You et al., 2017, "Large Batch Training of Convolutional Networks", Alg. 1) whose trust
ratios never leave the device.

mmpretrain's ``LARS`` reads ``‖w‖`` and ``‖g‖`` with ``.item()`` for every adapted parameter: two
host-device synchronisations per parameter per step (≈ 160 per step for a ResNet-50 recipe).
:class:`FusedLARS` computes all norms of a group with ``torch._foreach_norm``, the trust ratios as
one vector with ``torch.where`` (no Python branch on a tensor value) and applies the update with
``torch._foreach_*`` calls, one set per (hyper-parameters, device, dtype) bucket.

Three formulas (``variant``), each equal to the code it names:

``'mmpretrain'`` (default; mmpretrain 1.x ``LARS``, lr inside the momentum buffer)::

    λ = η‖w‖ / (‖g‖ + β‖w‖ + ε)      (λ = 1 if ‖w‖ = 0 or ‖g‖ = 0, or the group is lars_exclude)
    v ← m·v + (1 − dampening)·lr·λ·(g + βw)          (first step: v = lr·λ·(g + βw))
    w ← w − v                                        (Nesterov: w ← w − (lr·λ·(g + βw) + m·v))

``'lewel_release'`` (LEWEL's released ``utils/LARS.py``): the same update with
``λ = η‖w‖ / (‖g‖ + β‖w‖)`` — no ε and no zero-norm guard (``‖w‖ = 0`` gives λ = 0). Where the
release divides 0 by 0 (``‖g‖ = 0`` and ``β‖w‖ = 0``, a Python ``ZeroDivisionError`` there), λ = 1.

``'clove_release'`` (CLoVE's released ``contrast/lars.py``: a wrapper around ``torch.optim.SGD``
whose trust ratio is computed on the weight-decayed gradient, after which SGD applies the
*current* lr to the whole momentum buffer)::

    g' = g + βw   (only if β > 0)
    λ = η‖w‖ / (‖g'‖ + ε)          (λ = 1 if ‖w‖ = 0 or ‖g'‖ = 0, or the group is lars_exclude)
    v ← m·v + (1 − dampening)·λ·g'                   (first step: v = λ·g')
    w ← w − lr·v                                     (Nesterov: w ← w − lr·(λ·g' + m·v))

Both releases use η = 0.001, CLoVE ε = 1e-8. The two lr placements differ whenever the lr
changes between steps (warm-up, cosine): see docs/benchmarks.md for the measured difference.

Parameter groups: ``weight_decay`` (β), ``lars_exclude`` (no trust ratio: λ = 1), ``lr``,
``momentum``, ``dampening``, ``nesterov``, ``eta``. The momentum buffer is stored under
``state[p]['momentum_buffer']`` as in mmpretrain's ``LARS`` and ``torch.optim.SGD``, so
checkpoints of either resume into the matching variant.
"""
from collections import OrderedDict
from typing import Iterable, List

import torch
from torch.optim.optimizer import Optimizer

from densepre.registry import OPTIMIZERS

VARIANTS = ('mmpretrain', 'lewel_release', 'clove_release')


@OPTIMIZERS.register_module()
class FusedLARS(Optimizer):
    """Layer-wise adaptive rate scaling for SGD without host synchronisation.

    Args:
        params (Iterable): parameters or parameter-group dicts.
        lr (float): base learning rate.
        momentum (float): momentum factor m. Defaults to 0.
        weight_decay (float): L2 penalty β. Defaults to 0.
        dampening (float): dampening of the momentum. Defaults to 0.
        eta (float): LARS coefficient η (CLoVE's ``trust_coef``). Defaults to 0.001.
        nesterov (bool): Nesterov momentum. Defaults to False.
        eps (float): ε of the trust-ratio denominator (not used by ``'lewel_release'``).
            Defaults to 1e-8.
        variant (str): ``'mmpretrain'``, ``'lewel_release'`` or ``'clove_release'`` (module
            docstring). Defaults to ``'mmpretrain'``.
    """

    def __init__(self,
                 params: Iterable,
                 lr: float,
                 momentum: float = 0.,
                 weight_decay: float = 0.,
                 dampening: float = 0.,
                 eta: float = 0.001,
                 nesterov: bool = False,
                 eps: float = 1e-8,
                 variant: str = 'mmpretrain') -> None:
        if variant not in VARIANTS:
            raise ValueError(f'FusedLARS variant must be one of {VARIANTS}, got {variant!r}')
        if isinstance(lr, torch.Tensor):
            raise TypeError('FusedLARS needs a float lr (a tensor lr would be read on the host)')
        for name, value in (('lr', lr), ('momentum', momentum), ('weight_decay', weight_decay),
                            ('eta', eta), ('eps', eps)):
            if value < 0.0:
                raise ValueError(f'FusedLARS {name} must be >= 0, got {value}')
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError('Nesterov momentum requires a momentum and zero dampening')
        self.eps = float(eps)
        self.variant = variant
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening,
                        weight_decay=weight_decay, nesterov=nesterov, eta=eta)
        super().__init__(params, defaults)

    def __setstate__(self, state) -> None:
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault('nesterov', False)

    def _buckets(self) -> 'OrderedDict[tuple, List[torch.Tensor]]':
        """Parameters with a gradient, bucketed by hyper-parameters, device and dtype."""
        buckets = OrderedDict()
        for group in self.param_groups:
            lr = group['lr']
            if isinstance(lr, torch.Tensor):
                raise TypeError('FusedLARS needs float learning rates, a param group has a '
                                'tensor lr')
            hyper = (float(lr), float(group['weight_decay']), float(group['momentum']),
                     float(group['dampening']), bool(group['nesterov']), float(group['eta']),
                     bool(group.get('lars_exclude', False)))
            for p in group['params']:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise RuntimeError('FusedLARS does not support sparse gradients')
                buckets.setdefault(hyper + (p.device, p.dtype), []).append(p)
        return buckets

    @torch.no_grad()
    def step(self, closure=None):
        """One LARS step (module docstring); no tensor value is read on the host."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for key, params in self._buckets().items():
            lr, wd, momentum, dampening, nesterov, eta, exclude, device, dtype = key
            grads = [p.grad for p in params]
            if self.variant == 'clove_release':
                direction = self._clove_direction(params, grads, wd, eta, exclude)
                scale = lr  # SGD: the current lr multiplies the whole buffer
            else:
                direction = self._mmpretrain_direction(params, grads, lr, wd, eta, exclude)
                scale = 1.0  # lr already inside the buffer
            if momentum != 0:
                direction = self._momentum(params, direction, momentum, dampening, nesterov)
            if scale == 1.0:
                torch._foreach_sub_(params, direction)
            else:
                torch._foreach_add_(params, direction, alpha=-scale)
        return loss

    # ------------------------------------------------------------------ formulas
    @staticmethod
    def _ratio_dtype(device: torch.device) -> torch.dtype:
        # mmpretrain / LEWEL compute λ·lr in Python floats (float64) from the float norms;
        # float64 scalars reproduce that (MPS has no float64)
        return torch.float32 if device.type == 'mps' else torch.float64

    def _mmpretrain_direction(self, params, grads, lr, wd, eta, exclude):
        """``lr·λ·(g + βw)`` (mmpretrain / LEWEL release)."""
        direction = torch._foreach_add(grads, params, alpha=wd)
        if exclude:
            torch._foreach_mul_(direction, lr)
            return direction
        dtype = self._ratio_dtype(params[0].device)
        w_norm = torch.stack(torch._foreach_norm(params)).to(dtype)
        g_norm = torch.stack(torch._foreach_norm(grads)).to(dtype)
        denominator = g_norm + w_norm * wd
        if self.variant == 'mmpretrain':
            denominator = denominator + self.eps
            valid = (w_norm != 0) & (g_norm != 0)
        else:  # lewel_release: no eps, no guard except the 0 / 0 the release cannot compute
            valid = denominator != 0
        ratio = torch.where(valid, w_norm * eta / denominator, torch.ones_like(w_norm))
        actual_lr = (ratio * lr).to(params[0].dtype)
        torch._foreach_mul_(direction, list(actual_lr.unbind(0)))
        return direction

    def _clove_direction(self, params, grads, wd, eta, exclude):
        """``λ·(g + βw)`` with λ computed on ``g + βw`` (CLoVE release)."""
        direction = torch._foreach_add(grads, params, alpha=wd) if wd > 0 else grads
        if exclude:
            return direction
        w_norm = torch.stack(torch._foreach_norm(params))
        g_norm = torch.stack(torch._foreach_norm(direction))
        valid = (w_norm > 0) & (g_norm > 0)
        ratio = torch.where(valid, w_norm * eta / (g_norm + self.eps), torch.ones_like(w_norm))
        return torch._foreach_mul(direction, list(ratio.unbind(0)))

    def _momentum(self, params, direction, momentum, dampening, nesterov):
        """``v ← m·v + (1 − dampening)·d`` (``v = d`` at the first step), as torch SGD."""
        new = [i for i, p in enumerate(params) if 'momentum_buffer' not in self.state[p]]
        old = [i for i, p in enumerate(params) if 'momentum_buffer' in self.state[p]]
        if old:
            bufs = [self.state[params[i]]['momentum_buffer'] for i in old]
            torch._foreach_mul_(bufs, momentum)
            torch._foreach_add_(bufs, [direction[i] for i in old], alpha=1 - dampening)
        for i in new:
            self.state[params[i]]['momentum_buffer'] = torch.clone(direction[i]).detach()
        bufs = [self.state[p]['momentum_buffer'] for p in params]
        if nesterov:
            return torch._foreach_add(direction, bufs, alpha=momentum)
        return bufs
