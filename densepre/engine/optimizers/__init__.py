from .constructor import SkipEMAOptimWrapperConstructor
from .lars import FusedLARS

__all__ = ['SkipEMAOptimWrapperConstructor', 'FusedLARS']
