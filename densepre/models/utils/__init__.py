from .alignment import aligned_pooling, alignment_maps, map_index, random_maps, uniform_maps
from .correspondence import (GEOMETRY_FIELDS, GEOMETRY_KEY, cell_centers, cell_centers_in_image,
                             cell_diagonal, cell_distances, check_grid_tiles_views, image_to_view,
                             match_cells, stack_geometries, view_to_image)
from .ema import EMATeacher, EMATeacherMixin
from .feature_queue import FeatureQueue
from .multiview import (VIEW_GROUPS_KEY, MultiViewBatch, ViewPairs, count_fallback_crops,
                        forward_views, split_outputs)

__all__ = [
    'aligned_pooling', 'alignment_maps', 'map_index', 'random_maps', 'uniform_maps',
    'GEOMETRY_FIELDS', 'GEOMETRY_KEY', 'cell_centers', 'cell_centers_in_image', 'cell_diagonal',
    'cell_distances', 'check_grid_tiles_views', 'image_to_view', 'match_cells',
    'stack_geometries', 'view_to_image', 'VIEW_GROUPS_KEY', 'MultiViewBatch', 'forward_views',
    'split_outputs', 'FeatureQueue', 'EMATeacher', 'EMATeacherMixin', 'ViewPairs', 'count_fallback_crops'
]
