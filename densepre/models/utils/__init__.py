from .alignment import aligned_pooling, alignment_maps, map_index, random_maps, uniform_maps
from .ema import EMATeacher

__all__ = ['aligned_pooling', 'alignment_maps', 'map_index', 'random_maps', 'uniform_maps',
           'EMATeacher']
