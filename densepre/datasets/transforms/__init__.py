from .loading import LoadImageRobust, decode_image
from .views import GeoMultiView, GeoRandomResizedCrop

__all__ = ['LoadImageRobust', 'decode_image', 'GeoMultiView', 'GeoRandomResizedCrop']
