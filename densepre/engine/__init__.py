from .hooks import *  # noqa: F401,F403
from .optimizers import *  # noqa: F401,F403
from .schedulers import *  # noqa: F401,F403
from .amp import DenseAmpOptimWrapper, amp_optim_wrapper_cfg, cpu_has_bf16
from .channels_last import apply_channels_last
from .runner import DenseRunner, trusted_torch_load

__all__ = ['DenseRunner', 'trusted_torch_load', 'DenseAmpOptimWrapper', 'amp_optim_wrapper_cfg',
           'cpu_has_bf16', 'apply_channels_last', 'LinearWarmupLR']
