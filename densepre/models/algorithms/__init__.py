from .byol import BYOL
from .clove import CLoVE
from .lewel import LEWELB, LEWELM
from .loca import LOCA
from .mocov2 import MoCoV2

__all__ = ['BYOL', 'CLoVE', 'LEWELB', 'LEWELM', 'LOCA', 'MoCoV2']
