"""Learning-rate warm-up as the released self-supervised codes write it."""
from mmengine.optim.scheduler import LinearLR
from mmengine.optim.scheduler.param_scheduler import INF

from densepre.registry import PARAM_SCHEDULERS


@PARAM_SCHEDULERS.register_module()
class LinearWarmupLR(LinearLR):
    """Linear warm-up that reaches the base lr on its last iteration::

        lr_t = lr · (t + 1) / T,    t = 0 … T − 1,    T = end − begin

    the warm-up of LEWEL's release (``utils/lr_schedule.warmup_learning_rate`` with
    ``curr_step = epoch·iters + i + 1``) and of other PyTorch SSL releases. MMEngine's ``LinearLR``
    instead starts at ``start_factor·lr`` and reaches ``lr`` only after ``T`` steps, so a
    chained ``CosineAnnealingLR`` (which starts from the current value) would run its whole
    schedule scaled by ``start_factor + (1 − start_factor)(T − 1)/T``.

    Use with ``by_epoch=True, convert_to_iter_based=True`` for a warm-up given in epochs and
    updated every iteration.
    """

    def __init__(self, optimizer, begin: int = 0, end: int = INF, last_step: int = -1,
                 by_epoch: bool = True, verbose: bool = False):
        if end == INF:
            raise ValueError('LinearWarmupLR needs a finite `end` (the warm-up length)')
        super().__init__(optimizer, start_factor=1.0, end_factor=1.0, begin=begin, end=end,
                         last_step=last_step, by_epoch=by_epoch, verbose=verbose)

    def _get_value(self):
        # (MMEngine's `total_iters` is end - begin - 1: its last factor is reached at end - 1)
        steps = self.end - self.begin
        return [base * (self.last_step + 1) / steps for base in self.base_values]

    def _get_closed_form(self):
        return self._get_value()
