from .coupled_head import CoupledProjectionHead
from .pixel_projector import PixelProjector

__all__ = ['PixelProjector', 'CoupledProjectionHead']
