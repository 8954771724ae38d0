from .byol import BYOL
from .knn_moco import KNNMoCo
from .lewel import LEWELB, LEWELM
from .mocov2 import MoCoV2

__all__ = ['BYOL', 'KNNMoCo', 'LEWELB', 'LEWELM', 'MoCoV2']
