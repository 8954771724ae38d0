"""Stop training at the first non-finite loss, naming the iteration and the loss term."""
import math
from typing import Optional

from mmengine.hooks import Hook

from densepre.registry import HOOKS


@HOOKS.register_module()
class FiniteLossHook(Hook):
    """Raise ``FloatingPointError`` as soon as any logged loss term is NaN or infinite.

    It runs before the checkpoint hook, so the step that produced the NaN is never saved and the
    last good checkpoint stays the newest one (``--resume auto`` continues from it).
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
                f'checkpointed; the last checkpoint in {runner.work_dir} is the last good state.')
