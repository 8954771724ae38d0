from .hooks import *  # noqa: F401,F403
from .optimizers import *  # noqa: F401,F403
from .runner import DenseRunner, trusted_torch_load

__all__ = ['DenseRunner', 'trusted_torch_load']
