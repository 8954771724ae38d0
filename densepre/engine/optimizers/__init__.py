from .constructor import SkipEMAOptimWrapperConstructor

__all__ = ['SkipEMAOptimWrapperConstructor']
