from .finite_loss import FiniteLossHook

__all__ = ['FiniteLossHook']
