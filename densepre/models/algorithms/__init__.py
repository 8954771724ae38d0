from .byol import BYOL
from .clove import CLoVE
from .lewel import LEWELB, LEWELM
from .mocov2 import MoCoV2

__all__ = ['BYOL', 'CLoVE', 'LEWELB', 'LEWELM', 'MoCoV2']
