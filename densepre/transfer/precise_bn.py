"""PreciseBN for downstream fine-tuning (the detectron2 protocol of MoCo / LEWEL / CLoVE:
``TEST.PRECISE_BN.ENABLED: True``, ``NUM_ITER: 200``).

Wu & Johnson, "Rethinking 'Batch' in BatchNorm" (2021), Sec. 3: the EMA running statistics lag
the weights; before evaluation they are replaced by the plain average over ``num_iters`` training
batches of the per-batch mean and (unbiased) variance, computed with the final weights in train
mode. As detectron2's ``update_bn_stats``: every BN layer in training mode gets momentum 1 (its
running stats become the last batch's), and the running averages
``mu_k = mu_{k-1} + (m_k - mu_{k-1}) / k`` are accumulated across batches.

Under gradient accumulation (the paper's batch kept on fewer GPUs,
:mod:`densepre.transfer.effective_batch`) a loop iteration is a micro-batch: the hook averages
``num_iters x accumulation`` micro-batches, so that it sees as many images as the paper's
``num_iters`` batches (detectron2 on 8 GPUs with SyncBN: 200 x 16 images), and its ``interval``
counts optimizer steps. The BN batch itself stays the micro-batch (x GPUs with SyncBN), which
accumulation cannot change.

mmpretrain's ``PreciseBNHook`` reads ``DataLoader.batch_size``, which mmdet's
``AspectRatioBatchSampler`` leaves at ``None``; this hook reads the batch size from the batch
sampler and draws its own shuffled batches from the training set (a second iterator over the
training loader would reset the training loop's persistent-worker iterator).
"""
import itertools
import logging
from typing import Optional

import torch
from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from torch.nn.modules.batchnorm import _BatchNorm
from torch.utils.data import DataLoader

from densepre.registry import HOOKS


@HOOKS.register_module()
class PreciseBNHook(Hook):
    """Recompute the BN statistics after the last training iteration (and every ``interval``
    iterations if given), before the final validation, checkpoint and test.

    Args:
        num_iters: optimizer-step batches averaged (detectron2's ``PRECISE_BN.NUM_ITER``: 200);
            with ``n`` accumulation steps, ``n x num_iters`` micro-batches are drawn.
        interval: also recompute every ``interval`` optimizer steps (detectron2 does so at
            every ``TEST.EVAL_PERIOD``; the MoCo / LEWEL / CLoVE configs evaluate at the end only).
    """
    priority = 'NORMAL'  # before CheckpointHook (VERY_LOW): the saved weights hold the stats

    def __init__(self, num_iters: int = 200, interval: Optional[int] = None):
        if num_iters < 1:
            raise ValueError(f'PreciseBNHook: num_iters must be >= 1, got {num_iters}')
        self.num_iters = num_iters
        self.interval = interval

    @staticmethod
    def accumulation(runner) -> int:
        """Micro-batches per optimizer step (MMEngine's ``accumulative_counts``)."""
        return int(getattr(runner.optim_wrapper, '_accumulative_counts', 1) or 1)

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        final = runner.iter + 1 == runner.max_iters
        interval = self.interval and self.interval * self.accumulation(runner)
        if final or (interval and self.every_n_train_iters(runner, interval)):
            self.recompute(runner)

    def _batches(self, runner, num_batches: int):
        loader = runner.train_dataloader
        batch_size = getattr(loader.batch_sampler, 'batch_size', None) or loader.batch_size
        generator = torch.Generator()
        generator.manual_seed(int(runner.seed or 0) + 1000 * get_rank() + runner.iter)
        ordered = DataLoader(loader.dataset, batch_size=batch_size, shuffle=True,
                             generator=generator, num_workers=loader.num_workers,
                             collate_fn=loader.collate_fn, drop_last=True)
        if len(ordered) == 0:
            raise ValueError(f'PreciseBNHook: the training set ({len(loader.dataset)} samples) '
                             f'holds no full batch of {batch_size}')
        # a small training set is re-shuffled until num_iters batches were drawn
        return batch_size, itertools.islice(
            itertools.chain.from_iterable(itertools.repeat(ordered)), num_batches)

    @torch.no_grad()
    def recompute(self, runner) -> int:
        """Returns the number of BN layers whose statistics were recomputed."""
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        was_training = model.training
        model.train()  # norm_eval / frozen stages keep their BN layers in eval mode
        bns = [m for m in model.modules() if isinstance(m, _BatchNorm) and m.training
               and m.track_running_stats]
        if not bns:
            print_log('PreciseBN: no BN layer in training mode, nothing to recompute',
                      logger='current', level=logging.WARNING)
            model.train(was_training)
            return 0
        momenta = [bn.momentum for bn in bns]
        means = [torch.zeros_like(bn.running_mean) for bn in bns]
        variances = [torch.zeros_like(bn.running_var) for bn in bns]
        for bn in bns:
            bn.momentum = 1.0
        count, steps = 0, self.accumulation(runner)
        batch_size, batches = self._batches(runner, self.num_iters * steps)
        try:
            for data in batches:
                data = model.data_preprocessor(data, True)
                if isinstance(data, dict):
                    model(**data, mode='loss')
                else:
                    model(*data, mode='loss')
                count += 1
                for i, bn in enumerate(bns):
                    means[i] += (bn.running_mean - means[i]) / count
                    variances[i] += (bn.running_var - variances[i]) / count
        finally:
            for bn, momentum in zip(bns, momenta):
                bn.momentum = momentum
        for bn, mean, var in zip(bns, means, variances):
            bn.running_mean.copy_(mean)
            bn.running_var.copy_(var)
        model.train(was_training)
        print_log(f'PreciseBN: statistics of {len(bns)} BN layers recomputed over {count} '
                  f'training batches of {batch_size} per process (num_iters {self.num_iters} x '
                  f'{steps} accumulation step(s): {count * batch_size} images per process, as '
                  f'many as {self.num_iters} optimizer-step batches; iteration {runner.iter + 1})',
                  logger='current')
        return len(bns)
