"""densepre: dense self-supervised pretraining and transfer on OpenMMLab."""
from .version import __version__

# Importing densepre registers its components, so mmdet / mmseg / mmpretrain configs can use them
# through ``custom_imports=dict(imports=['densepre'])``.
from . import datasets, engine, models  # noqa: E402,F401

__all__ = ['__version__']
