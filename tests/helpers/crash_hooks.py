"""Hooks that kill the training process on purpose (imported by tests via custom_imports)."""
import os
import signal

from mmengine.hooks import Hook

from densepre.registry import HOOKS


@HOOKS.register_module()
class KillAfterIterHook(Hook):
    """SIGKILL the process right after global iteration ``at_iter`` (1-based): a crash."""

    priority = 'LOWEST'

    def __init__(self, at_iter: int):
        self.at_iter = at_iter

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if runner.iter + 1 == self.at_iter:
            os.kill(os.getpid(), signal.SIGKILL)


@HOOKS.register_module()
class KillDuringSaveHook(Hook):
    """SIGKILL the process half-way through writing the checkpoint of epoch ``at_epoch``."""

    def __init__(self, at_epoch: int):
        self.at_epoch = at_epoch

    def before_save_checkpoint(self, runner, checkpoint):
        if checkpoint['meta']['epoch'] != self.at_epoch:
            return
        from mmengine.fileio.backends.local_backend import LocalBackend

        def dying_put(backend, obj, filepath):
            with open(filepath, 'wb') as f:  # half the bytes reach the disk, then the kill
                f.write(obj[:len(obj) // 2])
                f.flush()
            os.kill(os.getpid(), signal.SIGKILL)

        LocalBackend.put = dying_put


@HOOKS.register_module()
class DiskFullDuringSaveHook(Hook):
    """The disk fills up half-way through writing the checkpoint of epoch ``at_epoch``: the write
    raises ``OSError(ENOSPC)`` after some bytes reached the file (as a real full disk does)."""

    def __init__(self, at_epoch: int):
        self.at_epoch = at_epoch

    def before_save_checkpoint(self, runner, checkpoint):
        if checkpoint['meta']['epoch'] != self.at_epoch:
            return
        import errno

        from mmengine.fileio.backends.local_backend import LocalBackend

        def full_put(backend, obj, filepath):
            with open(filepath, 'wb') as f:
                f.write(obj[:len(obj) // 3])
                f.flush()
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        LocalBackend.put = full_put


@HOOKS.register_module()
class ScaleWeightsHook(Hook):
    """Multiply every floating model parameter by ``factor`` after global iteration ``at_iter``
    (1-based): weights that blew up, as a too-high learning rate makes them."""

    priority = 'NORMAL'  # before the checkpoint hook (VERY_LOW) of the same iteration / epoch

    def __init__(self, at_iter: int, factor: float):
        self.at_iter, self.factor = at_iter, factor

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if runner.iter + 1 != self.at_iter:
            return
        import torch
        model = runner.model.module if hasattr(runner.model, 'module') else runner.model
        with torch.no_grad():
            for p in model.parameters():
                if p.is_floating_point():
                    p.mul_(self.factor)


@HOOKS.register_module()
class FreezeRankHook(Hook):
    """Rank ``rank`` stops responding (sleeps) before global iteration ``at_iter`` (1-based):
    a hung process, not a dead one."""

    def __init__(self, rank: int, at_iter: int, seconds: float = 3600):
        self.rank, self.at_iter, self.seconds = rank, at_iter, seconds

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if runner.rank == self.rank and runner.iter + 1 == self.at_iter:
            import time
            time.sleep(self.seconds)


@HOOKS.register_module()
class PoisonTensorHook(Hook):
    """Set element 0 of the model tensor ``key`` to ``value`` after global iteration ``at_iter``
    (1-based): a finite but absurd weight (e.g. one BN weight of 1e19), whose square still fits
    float32."""

    priority = 'NORMAL'  # before the checkpoint hook (VERY_LOW) of the same iteration / epoch

    def __init__(self, at_iter: int, key: str, value: float):
        self.at_iter, self.key, self.value = at_iter, key, value

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if runner.iter + 1 != self.at_iter:
            return
        import torch
        model = runner.model.module if hasattr(runner.model, 'module') else runner.model
        with torch.no_grad():
            model.state_dict()[self.key].view(-1)[0] = self.value
