from .byol import BYOL
from .lewel import LEWELB, LEWELM
from .loca import LOCA
from .mocov2 import MoCoV2

__all__ = ['BYOL', 'LEWELB', 'LEWELM', 'LOCA', 'MoCoV2']
