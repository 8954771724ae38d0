# Copyright (c) densepre contributors. All rights reserved.
"""Synthetic, license-free demo data in the real OpenMMLab on-disk formats.

:func:`make_demo_data` procedurally renders small scenes (1-3 coloured shapes
on textured backgrounds) and writes them as

* an ImageNet-style classification set (``imagenet/``) for pretraining,
* Pascal VOC 2012 (segmentation, incl. ``SegmentationClassAug``) and VOC 2007
  (detection) devkits (``VOCdevkit/``),
* a COCO-style instance set with polygon masks (``coco/``),

so that the unmodified ``mmpretrain``/``mmseg``/``mmdet`` dataset classes can
load them. Every object class has its own shape (and a typical hue), so a
model can learn something from a few iterations.

Only numpy, OpenCV, Pillow (for palette PNGs) and the standard library are
used; the output is deterministic for a given seed.
"""
from __future__ import annotations

import hashlib
import json
import os
import os.path as osp
import shutil
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Dict, Iterator, List, Sequence, Tuple

import cv2
import numpy as np
from PIL import Image

#: Bump when the written data change for the same arguments.
FORMAT_VERSION = 1

#: Pascal VOC class list (index = label id in VOC label PNGs).
VOC_CLASSES = ('background', 'aeroplane', 'bicycle', 'bird', 'boat', 'bottle',
               'bus', 'car', 'cat', 'chair', 'cow', 'diningtable', 'dog',
               'horse', 'motorbike', 'person', 'pottedplant', 'sheep', 'sofa',
               'train', 'tvmonitor')
#: The demo classes, named as in Pascal VOC; VOC label ids 1..4.
CLASSES = ('aeroplane', 'bicycle', 'bird', 'boat')
VOC_LABEL_IDS = tuple(VOC_CLASSES.index(name) for name in CLASSES)
#: The same classes in COCO, with their true COCO category ids. The COCO
#: ``categories`` list is written in this (class) order, so mmdet's
#: ``CocoDataset(metainfo=dict(classes=COCO_CLASSES))`` maps them to labels
#: 0..3 in the same order as :data:`CLASSES`.
COCO_CLASSES = ('airplane', 'bicycle', 'bird', 'boat')
COCO_CAT_IDS = (5, 2, 16, 9)
COCO_SUPERCATEGORIES = ('vehicle', 'vehicle', 'animal', 'vehicle')
#: WordNet ids (ImageNet-style class folders) of the classes.
IMAGENET_WNIDS = ('n02691156', 'n02834778', 'n01503061', 'n02858304')
#: Shape and typical hue (degrees) rendered for each class.
SHAPES = ('triangle', 'circle', 'star', 'rectangle')
CLASS_HUES = (0., 120., 220., 45.)
IGNORE_INDEX = 255

#: Independent random streams; each image gets its own generator seeded with
#: ``(seed, stream id, image index)`` so changing one split's size leaves the
#: images of the other splits unchanged.
STREAMS = {
    'imagenet': 0,
    'voc2012': 1,
    'voc2007': 2,
    'coco_train2017': 3,
    'coco_val2017': 4,
}
#: (min, max) image side as a multiple of ``image_size`` per stream.
_SIZE_RANGE = {'imagenet': (1.0, 2.0)}
_DEFAULT_SIZE_RANGE = (1.0, 4 / 3)
_JPEG_PARAMS = [cv2.IMWRITE_JPEG_QUALITY, 90]
_MARKER = '.complete'


@dataclass
class Scene:
    """A rendered image with its objects.

    Attributes:
        image (np.ndarray): ``(H, W, 3)`` uint8 RGB image.
        labels (list[int]): Class index (into :data:`CLASSES`) per object,
            in drawing order.
        masks (list[np.ndarray]): Visible ``(H, W)`` bool mask per object
            (disjoint; later objects occlude earlier ones).
    """
    image: np.ndarray
    labels: List[int]
    masks: List[np.ndarray]

    @property
    def instance_map(self) -> np.ndarray:
        """``(H, W)`` uint8 map: 0 = background, k + 1 = object k."""
        inst = np.zeros(self.image.shape[:2], np.uint8)
        for k, mask in enumerate(self.masks):
            inst[mask] = k + 1
        return inst

    @property
    def class_map(self) -> np.ndarray:
        """``(H, W)`` uint8 map of VOC label ids (0 = background)."""
        lut = np.array([0] + [VOC_LABEL_IDS[c] for c in self.labels], np.uint8)
        return lut[self.instance_map]

    @property
    def bboxes(self) -> np.ndarray:
        """``(N, 4)`` int boxes ``x0, y0, x1, y1`` (0-based, inclusive)."""
        boxes = []
        for mask in self.masks:
            ys, xs = np.nonzero(mask)
            boxes.append((xs.min(), ys.min(), xs.max(), ys.max()))
        return np.array(boxes, np.int64).reshape(-1, 4)

    @property
    def dominant_label(self) -> int:
        """Class index of the object with the largest visible area."""
        return self.labels[int(np.argmax([m.sum() for m in self.masks]))]


# ----------------------------------------------------------------- rendering
def _background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Smooth noise, stripes or a gradient blending two random colours."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32) / max(h, w)
    phi = rng.uniform(0, 2 * np.pi)
    proj = xx * np.cos(phi) + yy * np.sin(phi)
    kind = rng.integers(3)
    if kind == 0:
        grid = rng.random((rng.integers(2, 7), ) * 2, dtype=np.float32)
        t = cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)
    elif kind == 1:
        t = np.sin(2 * np.pi * rng.uniform(2, 6) * proj +
                   rng.uniform(0, 2 * np.pi))
    else:
        t = proj
    t = ((t - t.min()) / (np.ptp(t) + 1e-6))[..., None]
    c1, c2 = rng.uniform(0, 255, (2, 3))
    return c1 * (1 - t) + c2 * t


def _shape_polygon(label: int, rng: np.random.Generator, cx: float,
                   cy: float, r: float) -> np.ndarray:
    """``(N, 2)`` float vertices of the class's shape (circumradius ``r``)."""
    shape = SHAPES[label]
    theta = rng.uniform(0, 2 * np.pi)
    if shape == 'circle':
        angles, radii = np.linspace(0, 2 * np.pi, 48, endpoint=False), r
    elif shape == 'triangle':
        angles, radii = np.arange(3) * 2 * np.pi / 3, r
    elif shape == 'star':
        angles = np.arange(10) * np.pi / 5
        radii = np.where(np.arange(10) % 2 == 0, r, r * rng.uniform(.4, .5))
    else:  # rectangle with aspect ratio tan(beta) in [0.55, 1]
        beta = rng.uniform(np.arctan(.55), np.pi / 4)
        angles, radii = np.array([beta, np.pi - beta, np.pi + beta, -beta]), r
    angles = angles + theta
    return np.stack([cx + radii * np.cos(angles), cy + radii * np.sin(angles)],
                    axis=1)


def _fill(poly: np.ndarray, h: int, w: int) -> np.ndarray:
    """Rasterise a polygon to an ``(h, w)`` bool mask (sub-pixel accurate)."""
    mask = np.zeros((h, w), np.uint8)
    pts = np.round(poly * 16).astype(np.int32)
    cv2.fillPoly(mask, [pts], 1, lineType=cv2.LINE_8, shift=4)
    return mask.astype(bool)


def _has_hole(mask: np.ndarray) -> bool:
    """Whether a mask encloses background (COCO polygons cannot)."""
    _, hierarchy = cv2.findContours(
        mask.astype(np.uint8), cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    return hierarchy is not None and bool((hierarchy[0, :, 3] >= 0).any())


def _sample_objects(rng: np.random.Generator, h: int, w: int,
                    num: int) -> List[Tuple[int, np.ndarray]]:
    """Random (class, polygon) pairs fully inside the image."""
    objects = []
    for _ in range(num):
        label = int(rng.integers(len(CLASSES)))
        r = rng.uniform(.16, .3) * min(h, w)
        cx, cy = rng.uniform(r, w - r), rng.uniform(r, h - r)
        objects.append((label, _shape_polygon(label, rng, cx, cy, r)))
    return objects


def _layout_objects(rng: np.random.Generator, h: int, w: int,
                    max_objects: int, min_visible: float,
                    max_tries: int) -> Tuple[List[int], List[np.ndarray]]:
    """Sample objects until each keeps ``min_visible`` of its area."""
    num = int(rng.integers(1, max_objects + 1))
    for attempt in range(max_tries):
        if attempt == max_tries - 1:
            num = 1  # a single object is always fully visible
        objects = _sample_objects(rng, h, w, num)
        full = [_fill(poly, h, w) for _, poly in objects]
        visible = [m & ~np.any(full[k + 1:], axis=0) for k, m in
                   enumerate(full)]
        if all(v.sum() >= min_visible * f.sum() and not _has_hole(v)
               for v, f in zip(visible, full)):
            return [label for label, _ in objects], visible
    raise AssertionError('unreachable')


def _object_colour(rng: np.random.Generator, label: int) -> np.ndarray:
    """RGB colour (0-255) around the class's typical hue."""
    hue = (CLASS_HUES[label] + rng.uniform(-20, 20)) % 360
    hsv = np.array([[[hue, rng.uniform(.55, 1), rng.uniform(.55, 1)]]],
                   np.float32)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0] * 255


def render_scene(rng: np.random.Generator,
                 height: int,
                 width: int,
                 max_objects: int = 3,
                 min_visible: float = .5,
                 max_tries: int = 20) -> Scene:
    """Render 1..``max_objects`` shaded shapes on a textured background.

    Args:
        rng (np.random.Generator): Source of randomness.
        height (int): Image height.
        width (int): Image width.
        max_objects (int): Maximum number of objects. Defaults to 3.
        min_visible (float): Minimum visible fraction of each (possibly
            occluded) object. Defaults to 0.5.
        max_tries (int): Layout attempts before falling back to a single
            object. Defaults to 20.

    Returns:
        Scene: The rendered scene.
    """
    h, w = height, width
    image = _background(rng, h, w)
    labels, masks = _layout_objects(rng, h, w, max_objects, min_visible,
                                    max_tries)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    for label, mask in zip(labels, masks):
        ys, xs = np.nonzero(mask)
        phi = rng.uniform(0, 2 * np.pi)
        proj = ((xx - xs.mean()) * np.cos(phi) +
                (yy - ys.mean()) * np.sin(phi)) / max(np.ptp(xs), 1)
        shade = 1 + rng.uniform(0, .5) * proj[..., None]
        image = np.where(mask[..., None],
                         _object_colour(rng, label) * shade, image)
    image = image + rng.normal(0, 3, image.shape)
    return Scene(np.clip(image, 0, 255).astype(np.uint8), labels, masks)


def generate_scenes(stream: str, num: int, image_size: int,
                    seed: int) -> Iterator[Scene]:
    """Yield the ``num`` scenes of a stream (see :data:`STREAMS`).

    This is exactly what :func:`make_demo_data` writes, so tests can compare
    the files against the rendered instance masks.
    """
    lo, hi = _SIZE_RANGE.get(stream, _DEFAULT_SIZE_RANGE)
    for i in range(num):
        rng = np.random.default_rng([seed, STREAMS[stream], i])
        h, w = rng.integers(round(lo * image_size),
                            round(hi * image_size) + 1,
                            size=2)
        yield render_scene(rng, int(h), int(w))


# ------------------------------------------------------------------- writers
def voc_palette() -> np.ndarray:
    """The standard ``(256, 3)`` uint8 Pascal VOC colour map."""
    ids = np.arange(256)
    palette = np.zeros((256, 3), np.uint8)
    for j in range(8):
        for c in range(3):
            palette[:, c] |= (((ids >> (3 * j + c)) & 1) << (7 - j)).astype(
                np.uint8)
    return palette


def voc_boundary(instance_map: np.ndarray) -> np.ndarray:
    """Bool band (1 px on each side) along every object contour."""
    kernel = np.ones((3, 3), np.uint8)
    return cv2.dilate(instance_map, kernel) != cv2.erode(instance_map, kernel)


def _write_jpeg(path: str, image: np.ndarray) -> None:
    if not cv2.imwrite(path, cv2.cvtColor(image, cv2.COLOR_RGB2BGR),
                       _JPEG_PARAMS):
        raise IOError(f'failed to write {path}')


def _write_lines(path: str, lines: Sequence[str]) -> None:
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        f.write(''.join(f'{line}\n' for line in lines))


def _write_imagenet(root: str, num: int, image_size: int, seed: int) -> None:
    """``train/<wnid>/<wnid>_<i>.JPEG`` + ``meta/train.txt``."""
    for wnid in IMAGENET_WNIDS:
        os.makedirs(osp.join(root, 'train', wnid))
    lines = []
    for i, scene in enumerate(
            generate_scenes('imagenet', num, image_size, seed)):
        label = scene.dominant_label
        wnid = IMAGENET_WNIDS[label]
        name = f'{wnid}/{wnid}_{i:05d}.JPEG'
        _write_jpeg(osp.join(root, 'train', name), scene.image)
        lines.append(f'{name} {label}')
    _write_lines(osp.join(root, 'meta', 'train.txt'), lines)


def _sub(parent: ET.Element, tag: str, text: object = None) -> ET.Element:
    elem = ET.SubElement(parent, tag)
    if text is not None:
        elem.text = str(text)
    return elem


def voc_xml(scene: Scene, folder: str, filename: str) -> ET.ElementTree:
    """Pascal VOC annotation (boxes 1-based, inclusive) of a scene."""
    h, w = scene.image.shape[:2]
    root = ET.Element('annotation')
    _sub(root, 'folder', folder)
    _sub(root, 'filename', filename)
    source = _sub(root, 'source')
    _sub(source, 'database', 'densepre synthetic demo data')
    size = _sub(root, 'size')
    for tag, value in (('width', w), ('height', h), ('depth', 3)):
        _sub(size, tag, value)
    _sub(root, 'segmented', 1)
    for label, box in zip(scene.labels, scene.bboxes + 1):
        obj = _sub(root, 'object')
        for tag, value in (('name', CLASSES[label]), ('pose', 'Unspecified'),
                           ('truncated', 0), ('difficult', 0)):
            _sub(obj, tag, value)
        bndbox = _sub(obj, 'bndbox')
        for tag, value in zip(('xmin', 'ymin', 'xmax', 'ymax'), box):
            _sub(bndbox, tag, int(value))
    tree = ET.ElementTree(root)
    ET.indent(tree, space='\t')
    return tree


def _write_label_png(path: str, labels: np.ndarray, palette=None) -> None:
    """8-bit PNG: palette mode 'P' if ``palette`` is given, else 'L'."""
    h, w = labels.shape
    mode = 'L' if palette is None else 'P'
    img = Image.frombytes(mode, (w, h), np.ascontiguousarray(labels).tobytes())
    if palette is not None:
        img.putpalette(palette.ravel().tolist())
    img.save(path)


def _write_voc(root: str, stream: str, ids: Sequence[str],
               splits: Dict[str, Sequence[str]], image_size: int,
               seed: int) -> None:
    """Write one ``VOCdevkit/VOC20xx`` year with segmentation + detection."""
    dirs = ('JPEGImages', 'Annotations', 'SegmentationClass',
            'SegmentationClassAug', 'SegmentationObject')
    for d in dirs:
        os.makedirs(osp.join(root, d))
    palette = voc_palette()
    present = {}
    scenes = generate_scenes(stream, len(ids), image_size, seed)
    for img_id, scene in zip(ids, scenes):
        present[img_id] = set(scene.labels)
        _write_jpeg(osp.join(root, 'JPEGImages', f'{img_id}.jpg'), scene.image)
        voc_xml(scene, osp.basename(root), f'{img_id}.jpg').write(
            osp.join(root, 'Annotations', f'{img_id}.xml'))
        inst = scene.instance_map
        band = voc_boundary(inst)
        cls_map = scene.class_map
        _write_label_png(
            osp.join(root, 'SegmentationClass', f'{img_id}.png'),
            np.where(band, IGNORE_INDEX, cls_map).astype(np.uint8), palette)
        _write_label_png(
            osp.join(root, 'SegmentationObject', f'{img_id}.png'),
            np.where(band, IGNORE_INDEX, inst).astype(np.uint8), palette)
        _write_label_png(
            osp.join(root, 'SegmentationClassAug', f'{img_id}.png'), cls_map)
    for split, split_ids in splits.items():
        _write_lines(
            osp.join(root, 'ImageSets', 'Segmentation', f'{split}.txt'),
            split_ids)
        if split == 'aug':  # VOC12aug list: segmentation only
            continue
        _write_lines(osp.join(root, 'ImageSets', 'Main', f'{split}.txt'),
                     split_ids)
        for label, name in enumerate(CLASSES):
            _write_lines(
                osp.join(root, 'ImageSets', 'Main', f'{name}_{split}.txt'),
                [f'{i} {1 if label in present[i] else -1:2d}'
                 for i in split_ids])


def _mask_polygons(mask: np.ndarray, scale: int = 4) -> List[List[float]]:
    """COCO polygons of a mask's outer contours (>= 3 vertices).

    Contours through pixel centres would cut off half of every boundary
    pixel; tracing the ``scale``-times upsampled mask instead puts the
    vertices ``1 / (2 * scale)`` px inside the pixel edges, so that
    ``pycocotools`` rasterises them back to exactly the mask.
    """
    big = cv2.resize(mask.astype(np.uint8), None, fx=scale, fy=scale,
                     interpolation=cv2.INTER_NEAREST)
    contours, _ = cv2.findContours(big, cv2.RETR_EXTERNAL,
                                   cv2.CHAIN_APPROX_SIMPLE)
    return [((c.reshape(-1) + .5) / scale).tolist() for c in contours
            if len(c) >= 3 and cv2.contourArea(c) > 0]


def _coco_split(root: str, split: str, num: int, image_size: int, seed: int,
                first_img_id: int, first_ann_id: int) -> dict:
    """Write ``<split>/*.jpg`` and return the COCO instances dict."""
    os.makedirs(osp.join(root, split))
    images, anns = [], []
    scenes = generate_scenes(f'coco_{split}', num, image_size, seed)
    for img_id, scene in enumerate(scenes, first_img_id):
        h, w = scene.image.shape[:2]
        file_name = f'{img_id:012d}.jpg'
        _write_jpeg(osp.join(root, split, file_name), scene.image)
        images.append(dict(id=img_id, file_name=file_name, width=w, height=h))
        for label, mask, (x0, y0, x1, y1) in zip(scene.labels, scene.masks,
                                                 scene.bboxes.tolist()):
            polygons = _mask_polygons(mask)
            if not polygons:
                continue
            anns.append(
                dict(
                    id=first_ann_id + len(anns),
                    image_id=img_id,
                    category_id=COCO_CAT_IDS[label],
                    bbox=[x0, y0, x1 - x0 + 1, y1 - y0 + 1],
                    area=int(mask.sum()),
                    iscrowd=0,
                    segmentation=polygons))
    return dict(images=images, annotations=anns)


def _write_coco(root: str, num_train: int, num_val: int, image_size: int,
                seed: int) -> None:
    """``train2017/``, ``val2017/`` and ``annotations/instances_*.json``."""
    categories = [
        dict(id=i, name=n, supercategory=s) for i, n, s in zip(
            COCO_CAT_IDS, COCO_CLASSES, COCO_SUPERCATEGORIES)
    ]
    os.makedirs(osp.join(root, 'annotations'))
    img_id, ann_id = 1, 1
    for split, num in (('train2017', num_train), ('val2017', num_val)):
        data = _coco_split(root, split, num, image_size, seed, img_id, ann_id)
        img_id += len(data['images'])
        ann_id += len(data['annotations'])
        data = dict(
            info=dict(
                description='densepre synthetic demo data (procedurally '
                'generated, no license restrictions)',
                version=str(FORMAT_VERSION)),
            licenses=[],
            categories=categories,
            **data)
        with open(osp.join(root, 'annotations', f'instances_{split}.json'),
                  'w') as f:
            json.dump(data, f, separators=(',', ':'))


def _readme(args: dict) -> str:
    rows = '\n'.join(
        f'| {i} | {s} | {n} ({v}) | {cn} ({ci}) | {wn} |' for i, (
            s, n, v, cn, ci, wn) in enumerate(
                zip(SHAPES, CLASSES, VOC_LABEL_IDS, COCO_CLASSES,
                    COCO_CAT_IDS, IMAGENET_WNIDS)))
    return f"""# densepre synthetic demo data

Procedurally generated by `densepre.demo.make_demo_data`
(numpy + OpenCV): 1-3 shaded shapes per image on random textured
backgrounds. The data are **synthetic, contain no third-party content and
have no license restrictions**. Regenerate them with
`python tools/make_demo_data.py` (arguments: `{json.dumps(args)}`).

Each class is a shape with a typical hue (later objects occlude earlier ones;
every object keeps at least half of its area visible).

| index | shape | VOC name (label id) | COCO name (category id) | ImageNet dir (label) |
|---|---|---|---|---|
{rows}

## Layout

- `imagenet/train/<wnid>/<wnid>_<i>.JPEG`, `imagenet/meta/train.txt`
  (`<wnid>/<file> <label>`, label = class of the largest object; mmpretrain
  `ImageNet` ann-file format). Images of varied, non-square sizes.
- `VOCdevkit/VOC2012/` (segmentation): `JPEGImages/*.jpg`,
  `Annotations/*.xml`, `SegmentationClass/*.png` (palette PNG, VOC label ids,
  255 on a 2 px object boundary band), `SegmentationObject/*.png`,
  `SegmentationClassAug/*.png` (grayscale labels, no boundary band),
  `ImageSets/Segmentation/{{train,val,trainval,aug}}.txt`,
  `ImageSets/Main/{{train,val,trainval}}.txt` (+ `<class>_<split>.txt`).
- `VOCdevkit/VOC2007/` (detection): the same structure with the splits
  `train`, `val`, `trainval` and `test`.
- `coco/{{train2017,val2017}}/*.jpg`,
  `coco/annotations/instances_{{train2017,val2017}}.json` (COCO instances with
  polygon masks; `categories` listed in the class order above).
"""


# ------------------------------------------------------------------- driver
def _paths(root: str) -> Dict[str, str]:
    voc = osp.join(root, 'VOCdevkit')
    coco = osp.join(root, 'coco')
    return dict(
        root=root,
        readme=osp.join(root, 'README.md'),
        imagenet=osp.join(root, 'imagenet'),
        imagenet_ann_file=osp.join(root, 'imagenet', 'meta', 'train.txt'),
        voc_devkit=voc,
        voc2012=osp.join(voc, 'VOC2012'),
        voc2007=osp.join(voc, 'VOC2007'),
        coco=coco,
        coco_train_ann=osp.join(coco, 'annotations',
                                'instances_train2017.json'),
        coco_val_ann=osp.join(coco, 'annotations', 'instances_val2017.json'))


def _digest(args: dict) -> str:
    payload = json.dumps(dict(args, format_version=FORMAT_VERSION),
                         sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


def _is_complete(root: str, digest: str) -> bool:
    try:
        with open(osp.join(root, _MARKER)) as f:
            return json.load(f).get('hash') == digest
    except (OSError, ValueError):
        return False


def _write_all(root: str, args: dict) -> None:
    size, seed = args['image_size'], args['seed']
    _write_imagenet(
        osp.join(root, 'imagenet'), args['num_pretrain'], size, seed)
    n_tr, n_val = args['num_seg_train'], args['num_seg_val']
    ids = [f'2012_{i:06d}' for i in range(n_tr + n_val)]
    _write_voc(
        osp.join(root, 'VOCdevkit', 'VOC2012'), 'voc2012', ids,
        dict(train=ids[:n_tr], val=ids[n_tr:], trainval=ids,
             aug=ids[:n_tr]), size, seed)
    n_tr, n_val = args['num_det_train'], args['num_det_val']
    ids = [f'{i + 1:06d}' for i in range(n_tr + n_val)]
    trainval, half = ids[:n_tr], (n_tr + 1) // 2
    _write_voc(
        osp.join(root, 'VOCdevkit', 'VOC2007'), 'voc2007', ids,
        dict(train=trainval[:half], val=trainval[half:], trainval=trainval,
             test=ids[n_tr:]), size, seed)
    _write_coco(osp.join(root, 'coco'), n_tr, n_val, size, seed)
    with open(osp.join(root, 'README.md'), 'w') as f:
        f.write(_readme(args))


def _commit(tmp: str, root: str, digest: str) -> None:
    """Move the finished ``tmp`` dir to ``root`` (replacing an old one)."""
    old = None
    if osp.exists(root):
        old = f'{tmp}.old'
        os.rename(root, old)
    try:
        os.rename(tmp, root)
    except OSError:
        # A concurrent run may have won the race with the same data.
        if not _is_complete(root, digest):
            raise
        shutil.rmtree(tmp)
    if old is not None:
        shutil.rmtree(old)


def make_demo_data(root: str,
                   *,
                   num_pretrain: int = 256,
                   num_seg_train: int = 64,
                   num_seg_val: int = 32,
                   num_det_train: int | None = None,
                   num_det_val: int | None = None,
                   image_size: int = 96,
                   seed: int = 0,
                   overwrite: bool = False) -> Dict[str, str]:
    """Write the synthetic demo datasets below ``root``.

    The data are first written to a temporary directory beside ``root`` and
    renamed at the end, so an interrupted run never leaves a half-written
    dataset. ``root/.complete`` records a hash of the arguments; if it
    matches, nothing is written.

    Args:
        root (str): Output directory.
        num_pretrain (int): Images in ``imagenet/train``. Defaults to 256.
        num_seg_train (int): VOC2012 segmentation train images.
            Defaults to 64.
        num_seg_val (int): VOC2012 segmentation val images. Defaults to 32.
        num_det_train (int, optional): Images in VOC2007 ``trainval`` and in
            COCO ``train2017``. Defaults to ``num_seg_train``.
        num_det_val (int, optional): Images in VOC2007 ``test`` and in COCO
            ``val2017``. Defaults to ``num_seg_val``.
        image_size (int): Shorter image side (pretraining images are between
            1x and 2x, the others between 1x and 4/3x). Defaults to 96.
        seed (int): Random seed. Defaults to 0.
        overwrite (bool): Regenerate even if complete data exist, and replace
            an existing ``root`` made with other arguments. Defaults to False.

    Returns:
        dict[str, str]: Important paths (``root``, ``imagenet``,
        ``imagenet_ann_file``, ``voc_devkit``, ``voc2012``, ``voc2007``,
        ``coco``, ``coco_train_ann``, ``coco_val_ann``, ``readme``).
    """
    args = dict(
        num_pretrain=num_pretrain,
        num_seg_train=num_seg_train,
        num_seg_val=num_seg_val,
        num_det_train=num_seg_train if num_det_train is None else
        num_det_train,
        num_det_val=num_seg_val if num_det_val is None else num_det_val,
        image_size=image_size,
        seed=seed)
    digest = _digest(args)
    paths = _paths(root)
    if not overwrite and _is_complete(root, digest):
        return paths
    if not overwrite and osp.exists(root) and os.listdir(root):
        raise FileExistsError(
            f'{root} exists but does not hold demo data made with {args}; '
            'pass overwrite=True to replace it')
    parent, name = osp.split(osp.abspath(root))
    os.makedirs(parent, exist_ok=True)
    tmp = osp.join(parent, f'.{name}.tmp-{uuid.uuid4().hex[:8]}')
    os.mkdir(tmp)
    try:
        _write_all(tmp, args)
        with open(osp.join(tmp, _MARKER), 'w') as f:
            json.dump(dict(hash=digest, args=args), f)
        _commit(tmp, root, digest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return paths
