from .byol import BYOL
from .lewel import LEWELB, LEWELM
from .mocov2 import MoCoV2

__all__ = ['BYOL', 'LEWELB', 'LEWELM', 'MoCoV2']
