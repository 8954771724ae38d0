from .aplus import APlusAugment
from .loading import LoadImageRobust, decode_image
from .views import GeoMultiView, GeoRandomResizedCrop

__all__ = [
    'APlusAugment', 'LoadImageRobust', 'decode_image', 'GeoMultiView', 'GeoRandomResizedCrop'
]
