from .aplus import APlusAugment, CentredShear
from .loading import LoadImageRobust, decode_image
from .views import GeoMultiView, GeoRandomResizedCrop

__all__ = [
    'APlusAugment', 'CentredShear', 'LoadImageRobust', 'decode_image', 'GeoMultiView',
    'GeoRandomResizedCrop'
]
