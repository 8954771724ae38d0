"""Linear warm-up from 0 times a cosine decay, in closed form: the learning-rate schedule of the
LOCA release (scenic ``compound`` schedule ``'constant * cosine_decay * linear_warmup'``)."""
import math

from mmengine.optim.scheduler.lr_scheduler import LRSchedulerMixin
from mmengine.optim.scheduler.param_scheduler import INF, _ParamScheduler

from densepre.registry import PARAM_SCHEDULERS


class LinearWarmupCosineParamScheduler(_ParamScheduler):
    """Linear warm-up from 0 to the base value, then cosine decay to ``α`` times it::

        value(t) = base · min(1, t/W) · (α + (1 − α) · (1 + cos(π · max(0, t − W) / (T − W))) / 2)

    with ``t`` the step since ``begin`` (0 for the first optimizer step), ``W`` = ``warmup``
    steps and ``T = end − begin``. Unlike MMEngine's ``LinearLR`` (whose start factor must be
    > 0 and which reaches the peak at step ``W − 1``) the value starts at exactly 0 and reaches
    the peak at step ``W``; the first step then only fills the optimizer's moment estimates.
    ``α`` (``eta_min_ratio``) is the final fraction of the peak. Closed form: it does not chain
    with other schedulers of the same parameter.
    """

    def __init__(self, optimizer, param_name: str, warmup: int, eta_min_ratio: float = 0.,
                 begin: int = 0, end: int = INF, last_step: int = -1, by_epoch: bool = True,
                 verbose: bool = False):
        if end == INF:
            raise ValueError('LinearWarmupCosine needs a finite end (the cosine period)')
        if not 0 <= warmup < end - begin:
            raise ValueError(f'warmup must be in [0, end - begin) = [0, {end - begin}), got '
                             f'{warmup}')
        if not 0. <= eta_min_ratio <= 1.:
            raise ValueError(f'eta_min_ratio must be in [0, 1], got {eta_min_ratio}')
        self.warmup = warmup
        self.eta_min_ratio = float(eta_min_ratio)
        super().__init__(optimizer, param_name, begin=begin, end=end, last_step=last_step,
                         by_epoch=by_epoch, verbose=verbose)

    @classmethod
    def build_iter_from_epoch(cls, *args, warmup, begin=0, end=INF, by_epoch=True,
                              epoch_length=None, **kwargs):
        """Epoch-based ``warmup`` / ``begin`` / ``end`` converted to iterations."""
        assert by_epoch, 'only epoch-based arguments (by_epoch=True) can be converted'
        assert epoch_length is not None and epoch_length > 0, \
            f'epoch_length must be a positive integer, got {epoch_length}'
        end = end if end == INF else int(end * epoch_length)
        return cls(*args, warmup=int(warmup * epoch_length), begin=int(begin * epoch_length),
                   end=end, by_epoch=False, **kwargs)

    def factor(self, step: int) -> float:
        """The multiplier of the base value at ``step`` (0-based, since ``begin``)."""
        warm = min(1., step / self.warmup) if self.warmup > 0 else 1.
        progress = max(0, step - self.warmup) / (self.end - self.begin - self.warmup)
        cosine = (1 + math.cos(math.pi * progress)) / 2
        return warm * (self.eta_min_ratio + (1 - self.eta_min_ratio) * cosine)

    def _get_value(self):
        return [base * self.factor(self.last_step) for base in self.base_values]


@PARAM_SCHEDULERS.register_module()
class LinearWarmupCosineLR(LRSchedulerMixin, LinearWarmupCosineParamScheduler):
    """:class:`LinearWarmupCosineParamScheduler` of the learning rate."""
