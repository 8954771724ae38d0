"""Log the loss averaged over all processes, not rank 0's share of the batch."""
from typing import Optional

import torch
from mmengine.dist import all_reduce, get_world_size
from mmengine.hooks import Hook

from densepre.registry import HOOKS


@HOOKS.register_module()
class GlobalLossLogHook(Hook):
    """Average the logged loss terms over processes (one all-reduce of a few scalars per step).

    MMEngine logs rank 0's local values, so the same run shows different losses on 1 and 8 GPUs.
    With this hook the logged loss is the loss of the global batch, and a NaN on any rank is
    seen by every rank (so :class:`FiniteLossHook` stops all of them together instead of leaving
    the others waiting in a collective).
    """

    priority = 'HIGHEST'  # before RuntimeInfoHook copies the outputs into the message hub

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs: Optional[dict] = None) -> None:
        world_size = get_world_size()
        if world_size == 1 or not outputs:
            return
        keys = [k for k, v in outputs.items() if isinstance(v, torch.Tensor) and v.numel() == 1]
        if not keys:
            return
        values = torch.stack([outputs[k].detach().float().reshape(()) for k in keys])
        all_reduce(values)
        for k, v in zip(keys, values / world_size):
            outputs[k] = v
