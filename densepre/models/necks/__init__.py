from .coupled_head import CoupledProjectionHead

__all__ = ['CoupledProjectionHead']
