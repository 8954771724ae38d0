from .geometry import (cell_centers, cell_centers_in_image, cell_distances, image_to_view,
                       match_cells, stack_geometries, view_to_image)
from .image_list import CocoImages, ImageList
from .transforms import *  # noqa: F401,F403

__all__ = [
    'ImageList', 'CocoImages', 'cell_centers', 'cell_centers_in_image', 'cell_distances',
    'image_to_view', 'match_cells', 'stack_geometries', 'view_to_image'
]
