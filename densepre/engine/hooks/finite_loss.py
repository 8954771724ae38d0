"""Stop training at the first non-finite loss, naming the iteration and the loss term."""
import math
from typing import Optional

from mmengine.hooks import Hook

from densepre.registry import HOOKS

from .checkpoint import describe_last_finite


def _out_dir(runner) -> str:
    for hook in runner.hooks:
        if hasattr(hook, 'filename_tmpl') and isinstance(getattr(hook, 'out_dir', None), str):
            return hook.out_dir
    return runner.work_dir


@HOOKS.register_module()
class FiniteLossHook(Hook):
    """Raise ``FloatingPointError`` as soon as any logged loss term is NaN or infinite.

    It runs before the checkpoint hook, so the step that produced the NaN is never saved. A
    checkpoint written earlier may still hold weights that NaN again (they grew for several steps
    before the loss overflowed): the message names the newest checkpoint whose weights are all
    finite (:func:`~densepre.engine.hooks.checkpoint.last_finite_checkpoint`), not simply the last.
    """

    priority = 'ABOVE_NORMAL'

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs: Optional[dict] = None) -> None:
        if not outputs:
            return
        bad = {}
        for name, value in outputs.items():
            v = float(value.detach().float().mean()) if hasattr(value, 'detach') else float(value)
            if not math.isfinite(v):
                bad[name] = v
        if bad:
            terms = ', '.join(f'{k}={v}' for k, v in bad.items())
            raise FloatingPointError(
                f'non-finite loss at iteration {runner.iter + 1} (epoch {runner.epoch + 1}, '
                f'batch {batch_idx} of the epoch): {terms}. Nothing from this step was '
                'checkpointed; ' + describe_last_finite(_out_dir(runner)))
