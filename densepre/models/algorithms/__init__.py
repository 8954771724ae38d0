from .byol import BYOL
from .clove import CLoVE
from .knn_moco import KNNMoCo
from .lewel import LEWELB, LEWELM
from .loca import LOCA
from .mocov2 import MoCoV2

__all__ = ['BYOL', 'CLoVE', 'KNNMoCo', 'LEWELB', 'LEWELM', 'LOCA', 'MoCoV2']
