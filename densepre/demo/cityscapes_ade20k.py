# Copyright (c) densepre contributors. All rights reserved.
"""Synthetic Cityscapes- and ADE20k-format demo sets (for CPU smoke runs and tests).

Complements :mod:`densepre.demo.imagenet_voc_coco` (ImageNet / VOC / COCO) with the two layouts
mmseg's ``CityscapesDataset`` and ``ADE20KDataset`` read, using the same procedural scenes
(:func:`densepre.demo.imagenet_voc_coco.render_scene`):

* Cityscapes: ``leftImg8bit/{train,val}/<city>/<city>_<seq>_<frame>_leftImg8bit.png`` and
  ``gtFine/{train,val}/<city>/<city>_<seq>_<frame>_gtFine_labelTrainIds.png`` (train ids 0..18,
  255 = ignore on a 1 px band around every object). Images are twice as wide as high.
* ADE20k: ``ADEChallengeData2016/images/{training,validation}/ADE_{train,val}_<8 digits>.jpg``
  and ``annotations/...png`` (ids 1..150, 0 = "other", which mmseg drops with
  ``reduce_zero_label``; the object boundary band is 0).

Background pixels get one class and each demo shape class another (see :data:`CITYSCAPES_IDS`,
:data:`ADE20K_IDS`; the choice of ids is arbitrary). Everything is deterministic for a seed and
written to a temporary directory that is renamed into place at the end.
"""
from __future__ import annotations

import json
import os
import os.path as osp
import shutil
import uuid
from typing import Dict

import cv2
import numpy as np
from PIL import Image

from .imagenet_voc_coco import render_scene, voc_boundary

#: Cityscapes train ids: background -> 0 (road); demo classes (aeroplane, bicycle, bird, boat)
#: -> car (13), bicycle (18), person (11), truck (14).
CITYSCAPES_IDS = dict(background=0, objects=(13, 18, 11, 14))
#: ADE20k ids (1-based, 0 = other): background -> 1 (wall); demo classes -> 21 (car),
#: 128 (bicycle), 13 (person), 77 (boat).
ADE20K_IDS = dict(background=1, objects=(21, 128, 13, 77))
#: Random streams (disjoint from imagenet_voc_coco.STREAMS).
_STREAMS = dict(cityscapes_train=100, cityscapes_val=101, ade20k_train=102, ade20k_val=103)
_MARKER = '.complete'


def _label_map(scene, ids: dict, band_value: int) -> np.ndarray:
    inst = scene.instance_map
    lut = np.array([ids['background']] + [ids['objects'][c] for c in scene.labels], np.uint8)
    labels = lut[inst]
    labels[voc_boundary(inst)] = band_value
    return labels


def _scenes(stream: str, num: int, height: int, width: int, seed: int):
    for i in range(num):
        rng = np.random.default_rng([seed, _STREAMS[stream], i])
        yield render_scene(rng, height, width)


def _save_png(path: str, array: np.ndarray) -> None:
    os.makedirs(osp.dirname(path), exist_ok=True)
    Image.fromarray(array).save(path)


def _save_jpeg(path: str, rgb: np.ndarray) -> None:
    os.makedirs(osp.dirname(path), exist_ok=True)
    if not cv2.imwrite(path, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
                       [cv2.IMWRITE_JPEG_QUALITY, 90]):
        raise IOError(f'failed to write {path}')


def _atomic_build(root: str, args: dict, write) -> None:
    """Run ``write(tmp_dir)`` and rename the result to ``root`` (skipped if already complete)."""
    marker = osp.join(root, _MARKER)
    if osp.isfile(marker):
        try:
            with open(marker) as f:
                if json.load(f) == args:
                    return
        except ValueError:
            pass
    if osp.exists(root) and os.listdir(root):
        raise FileExistsError(f'{root} exists and does not hold demo data made with {args}')
    parent, name = osp.split(osp.abspath(root))
    os.makedirs(parent, exist_ok=True)
    tmp = osp.join(parent, f'.{name}.tmp-{uuid.uuid4().hex[:8]}')
    os.mkdir(tmp)
    try:
        write(tmp)
        with open(osp.join(tmp, _MARKER), 'w') as f:
            json.dump(args, f)
        if osp.exists(root):
            os.rmdir(root)  # empty, checked above
        os.rename(tmp, root)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def make_demo_cityscapes(root: str, *, num_train: int = 8, num_val: int = 4,
                         image_size: int = 48, seed: int = 0) -> Dict[str, str]:
    """Write a tiny Cityscapes-layout set (images ``image_size`` x ``2 * image_size``).

    Returns:
        dict with ``root``, ``train_img``, ``train_ann``, ``val_img`` and ``val_ann`` dirs.
    """
    args = dict(kind='cityscapes', num_train=num_train, num_val=num_val,
                image_size=image_size, seed=seed)

    def write(tmp):
        for split, num, city in (('train', num_train, 'aachen'), ('val', num_val, 'frankfurt')):
            scenes = _scenes(f'cityscapes_{split}', num, image_size, 2 * image_size, seed)
            for i, scene in enumerate(scenes):
                stem = f'{city}_{i:06d}_000019'
                _save_png(osp.join(tmp, 'leftImg8bit', split, city, f'{stem}_leftImg8bit.png'),
                          scene.image)
                _save_png(osp.join(tmp, 'gtFine', split, city,
                                   f'{stem}_gtFine_labelTrainIds.png'),
                          _label_map(scene, CITYSCAPES_IDS, 255))

    _atomic_build(root, args, write)
    return dict(root=root,
                train_img=osp.join(root, 'leftImg8bit', 'train'),
                train_ann=osp.join(root, 'gtFine', 'train'),
                val_img=osp.join(root, 'leftImg8bit', 'val'),
                val_ann=osp.join(root, 'gtFine', 'val'))


def make_demo_ade20k(root: str, *, num_train: int = 32, num_val: int = 4,
                     image_size: int = 48, seed: int = 0) -> Dict[str, str]:
    """Write a tiny ``ADEChallengeData2016``-layout set below ``root`` (``root`` IS the
    ADEChallengeData2016 directory, i.e. mmseg's ``data_root``).

    Returns:
        dict with ``root``, ``train_img``, ``train_ann``, ``val_img`` and ``val_ann`` dirs.
    """
    args = dict(kind='ade20k', num_train=num_train, num_val=num_val,
                image_size=image_size, seed=seed)

    def write(tmp):
        for split, num, tag in (('training', num_train, 'train'),
                                ('validation', num_val, 'val')):
            scenes = _scenes(f'ade20k_{tag}', num, image_size, image_size * 4 // 3, seed)
            for i, scene in enumerate(scenes, 1):
                stem = f'ADE_{tag}_{i:08d}'
                _save_jpeg(osp.join(tmp, 'images', split, f'{stem}.jpg'), scene.image)
                _save_png(osp.join(tmp, 'annotations', split, f'{stem}.png'),
                          _label_map(scene, ADE20K_IDS, 0))

    _atomic_build(root, args, write)
    return dict(root=root,
                train_img=osp.join(root, 'images', 'training'),
                train_ann=osp.join(root, 'annotations', 'training'),
                val_img=osp.join(root, 'images', 'validation'),
                val_ann=osp.join(root, 'annotations', 'validation'))
