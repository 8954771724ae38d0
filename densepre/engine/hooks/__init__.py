from .finite_loss import FiniteLossHook
from .loss_sync import GlobalLossLogHook

__all__ = ['FiniteLossHook', 'GlobalLossLogHook']
