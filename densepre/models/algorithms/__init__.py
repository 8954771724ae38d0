from .byol import BYOL
from .mocov2 import MoCoV2

__all__ = ['BYOL', 'MoCoV2']
