# Copyright (c) densepre contributors. All rights reserved.
"""A synthetic DAVIS-2017-layout video set (semi-supervised video object segmentation).

Each sequence shows 1-3 of the demo shapes (:mod:`.imagenet_voc_coco`) moving with constant
velocity and rotation over a textured background that pans slowly; the later objects move towards
where the first one ends and are drawn after it, so they cross and occlude it. Written in the official layout::

    JPEGImages/480p/<seq>/00000.jpg ...
    Annotations/480p/<seq>/00000.png ...   palette PNGs: 0 background, 1..n objects
    ImageSets/2017/{train,val}.txt

(the frames are ``height`` px high, not 480: the directory name is the layout's). Every object is
visible in the first frame (DAVIS annotates the objects of the first frame). Deterministic for a
seed; written to a temporary directory renamed into place at the end.
"""
import os
import os.path as osp
from typing import Dict, List, Tuple

import numpy as np

from .cityscapes_ade20k import _atomic_build, _save_jpeg
from .imagenet_voc_coco import (CLASSES, _background, _fill, _object_colour, _shape_polygon,
                                _write_label_png, voc_palette)

#: Random stream id (disjoint from the other demo streams).
_STREAM = 200


def render_video(rng: np.random.Generator, num_frames: int, height: int, width: int,
                 max_objects: int = 3) -> Tuple[List[np.ndarray], List[np.ndarray]]:
    """``num_frames`` RGB frames and ``(H, W)`` uint8 object-id maps of one moving scene."""
    h, w = height, width
    pan = rng.uniform(-1, 1, 2) * min(h, w) / num_frames * 0.5  # background motion, px / frame
    margin = int(np.ceil(np.abs(pan).max() * num_frames)) + 1
    bg = _background(rng, h + 2 * margin, w + 2 * margin)
    for _ in range(100):
        num = int(rng.integers(1, max_objects + 1))
        objs = []
        for _ in range(num):
            label = int(rng.integers(len(CLASSES)))
            r = rng.uniform(.18, .3) * min(h, w)
            start = np.array([rng.uniform(r, w - r), rng.uniform(r, h - r)])
            end = np.array([rng.uniform(r, w - r), rng.uniform(r, h - r)])
            if objs:  # later objects head for where the first one ends: they cross and occlude
                end = np.clip(objs[0][3] + rng.uniform(-.5, .5, 2) * objs[0][1], r,
                              [w - r, h - r])
            spin = rng.uniform(-.05, .05)
            state = rng.bit_generator.state  # same polygon shape in every frame
            objs.append((label, r, start, end, spin, state, _object_colour(rng, label)))
        first = _id_map(objs, 0, num_frames, h, w)
        if all((first == k + 1).sum() >= 0.3 * np.pi * o[1] ** 2 / 2 for k, o in enumerate(objs)):
            break
    else:
        objs = objs[-1:]  # a single (hence unoccluded) object
    frames, ids = [], []
    for t in range(num_frames):
        dx, dy = np.round(pan * t).astype(int)
        image = bg[margin + dy:margin + dy + h, margin + dx:margin + dx + w].copy()
        id_map = _id_map(objs, t, num_frames, h, w)
        for k, obj in enumerate(objs):
            image[id_map == k + 1] = obj[6]
        image = image + rng.normal(0, 3, image.shape)
        frames.append(np.clip(image, 0, 255).astype(np.uint8))
        ids.append(id_map)
    return frames, ids


def _id_map(objs, t: int, num_frames: int, h: int, w: int) -> np.ndarray:
    out = np.zeros((h, w), np.uint8)
    a = t / max(num_frames - 1, 1)
    for k, (label, r, start, end, spin, state, _) in enumerate(objs):
        rng = np.random.default_rng()
        rng.bit_generator.state = state
        cx, cy = (1 - a) * start + a * end
        poly = _shape_polygon(label, rng, cx, cy, r)
        centre = np.array([cx, cy])
        cos, sin = np.cos(spin * t), np.sin(spin * t)
        rot = np.array([[cos, -sin], [sin, cos]])
        poly = (poly - centre) @ rot.T + centre
        out[_fill(poly, h, w)] = k + 1
    return out


def make_demo_davis(root: str, *, num_train: int = 2, num_val: int = 3, num_frames: int = 12,
                    height: int = 64, width: int = 112, seed: int = 0) -> Dict[str, str]:
    """Write the set below ``root`` (skipped if already written with the same arguments).

    Returns:
        dict with ``root``, ``val_list`` and ``train_list``.
    """
    args = dict(kind='davis2017', num_train=num_train, num_val=num_val, num_frames=num_frames,
                height=height, width=width, seed=seed)
    palette = voc_palette()  # DAVIS annotations use the Pascal VOC colour map

    def write(tmp):
        names = {'train': [f'train-{i:03d}' for i in range(num_train)],
                 'val': [f'val-{i:03d}' for i in range(num_val)]}
        for split, seqs in names.items():
            for i, seq in enumerate(seqs):
                rng = np.random.default_rng([seed, _STREAM, int(split == 'val'), i])
                frames, ids = render_video(rng, num_frames, height, width)
                img_dir = osp.join(tmp, 'JPEGImages', '480p', seq)
                ann_dir = osp.join(tmp, 'Annotations', '480p', seq)
                os.makedirs(ann_dir, exist_ok=True)
                for t, (frame, id_map) in enumerate(zip(frames, ids)):
                    _save_jpeg(osp.join(img_dir, f'{t:05d}.jpg'), frame)
                    _write_label_png(osp.join(ann_dir, f'{t:05d}.png'), id_map, palette)
            os.makedirs(osp.join(tmp, 'ImageSets', '2017'), exist_ok=True)
            with open(osp.join(tmp, 'ImageSets', '2017', f'{split}.txt'), 'w') as f:
                f.write(''.join(f'{s}\n' for s in seqs))

    _atomic_build(root, args, write)
    return dict(root=root, val_list=osp.join(root, 'ImageSets', '2017', 'val.txt'),
                train_list=osp.join(root, 'ImageSets', '2017', 'train.txt'))


__all__ = ['make_demo_davis', 'render_video']
