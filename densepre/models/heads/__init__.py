from .nmhsa import NMHSAPredictor

__all__ = ['NMHSAPredictor']
