from .checkpoint import SafeCheckpointHook
from .dense_probe import DenseProbeHook
from .finite_loss import FiniteLossHook
from .loss_sync import GlobalLossLogHook

__all__ = ['SafeCheckpointHook', 'DenseProbeHook', 'FiniteLossHook', 'GlobalLossLogHook']
