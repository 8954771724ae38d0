from .alignment import aligned_pooling, alignment_maps, map_index, random_maps, uniform_maps

__all__ = ['aligned_pooling', 'alignment_maps', 'map_index', 'random_maps', 'uniform_maps']
