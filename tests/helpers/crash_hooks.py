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
