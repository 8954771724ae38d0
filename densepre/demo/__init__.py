# Copyright (c) densepre contributors. All rights reserved.
"""Synthetic, license-free demo data in the real on-disk formats (CPU smoke runs and tests).

* :mod:`.imagenet_voc_coco`: the procedural scenes and the ImageNet / Pascal VOC / COCO sets
  (:func:`make_demo_data`, written by ``tools/make_demo_data.py``).
* :mod:`.cityscapes_ade20k`: Cityscapes- and ADE20k-layout sets.
* :mod:`.davis`: a DAVIS-2017-layout video set (moving, occluding shapes).
"""
from .cityscapes_ade20k import make_demo_ade20k, make_demo_cityscapes
from .davis import make_demo_davis
from .imagenet_voc_coco import (CLASSES, COCO_CAT_IDS, COCO_CLASSES, IMAGENET_WNIDS,
                                VOC_LABEL_IDS, generate_scenes, make_demo_data, render_scene,
                                voc_palette)

__all__ = [
    'CLASSES', 'COCO_CAT_IDS', 'COCO_CLASSES', 'IMAGENET_WNIDS', 'VOC_LABEL_IDS',
    'generate_scenes', 'make_demo_ade20k', 'make_demo_cityscapes', 'make_demo_data',
    'make_demo_davis', 'render_scene', 'voc_palette'
]
