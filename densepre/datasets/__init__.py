from .geometry import (FLAG_FALLBACK, FLAG_WARPED, GEOMETRY_FIELDS, GEOMETRY_KEY,
                       VIEW_GROUPS_KEY, fraction_inside, make_geometry)
from .image_list import CocoImages, ImageList
from .transforms import *  # noqa: F401,F403

__all__ = ['ImageList', 'CocoImages', 'GEOMETRY_FIELDS', 'GEOMETRY_KEY', 'VIEW_GROUPS_KEY',
           'fraction_inside',
           'make_geometry', 'FLAG_FALLBACK', 'FLAG_WARPED']
