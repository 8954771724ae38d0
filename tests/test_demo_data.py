# Copyright (c) densepre contributors. All rights reserved.
"""Tests of the synthetic demo data: formats and real dataset classes."""
import json
import os
import os.path as osp
import xml.etree.ElementTree as ET

import cv2
import numpy as np
import pytest
from PIL import Image

from densepre.demo import (CLASSES, COCO_CAT_IDS, COCO_CLASSES, IMAGENET_WNIDS,
                           VOC_LABEL_IDS, generate_scenes, make_demo_data, voc_palette)

ARGS = dict(
    num_pretrain=12,
    num_seg_train=6,
    num_seg_val=4,
    num_det_train=6,
    num_det_val=4,
    image_size=64,
    seed=0)


@pytest.fixture(scope='module')
def demo(tmp_path_factory):
    root = tmp_path_factory.mktemp('data') / 'demo'
    return make_demo_data(str(root), **ARGS)


def read_lines(path):
    with open(path) as f:
        return f.read().splitlines()


def voc_ids(year_root, split, sub='Main'):
    return read_lines(osp.join(year_root, 'ImageSets', sub, f'{split}.txt'))


def parse_voc_xml(path):
    root = ET.parse(path).getroot()
    size = {t: int(root.find(f'size/{t}').text)
            for t in ('width', 'height', 'depth')}
    objects = [(obj.find('name').text,
                [int(obj.find(f'bndbox/{t}').text)
                 for t in ('xmin', 'ymin', 'xmax', 'ymax')])
               for obj in root.findall('object')]
    return root, size, objects


def mask_iou(a, b):
    a, b = a.astype(bool), b.astype(bool)
    return (a & b).sum() / max((a | b).sum(), 1)


def test_imagenet_ann_file(demo):
    lines = read_lines(demo['imagenet_ann_file'])
    assert len(lines) == ARGS['num_pretrain']
    sizes = set()
    for line in lines:
        name, label = line.rsplit(' ', 1)
        assert name.split('/')[0] == IMAGENET_WNIDS[int(label)]
        assert name.endswith('.JPEG')
        img = cv2.imread(osp.join(demo['imagenet'], 'train', name))
        assert img is not None and img.shape[2] == 3
        sizes.add(img.shape[:2])
        assert min(img.shape[:2]) >= ARGS['image_size']
        assert max(img.shape[:2]) <= 2 * ARGS['image_size']
    assert len(sizes) > 1  # varied sizes


def test_voc_splits(demo):
    voc12, voc07 = demo['voc2012'], demo['voc2007']
    n_tr, n_val = ARGS['num_seg_train'], ARGS['num_seg_val']
    assert len(voc_ids(voc12, 'train', 'Segmentation')) == n_tr
    assert len(voc_ids(voc12, 'val', 'Segmentation')) == n_val
    assert voc_ids(voc12, 'aug', 'Segmentation') == voc_ids(
        voc12, 'train', 'Segmentation')
    assert voc_ids(voc12, 'trainval') == voc_ids(voc12, 'train') + voc_ids(
        voc12, 'val')
    assert len(voc_ids(voc07, 'trainval')) == ARGS['num_det_train']
    assert len(voc_ids(voc07, 'test')) == ARGS['num_det_val']
    assert not set(voc_ids(voc07, 'trainval')) & set(voc_ids(voc07, 'test'))
    for root, split in ((voc12, 'trainval'), (voc07, 'trainval'),
                        (voc07, 'test')):
        for img_id in voc_ids(root, split):
            for sub, ext in (('JPEGImages', 'jpg'), ('Annotations', 'xml'),
                             ('SegmentationClass', 'png'),
                             ('SegmentationClassAug', 'png')):
                assert osp.isfile(osp.join(root, sub, f'{img_id}.{ext}'))
    flags = read_lines(osp.join(voc07, 'ImageSets', 'Main',
                                f'{CLASSES[0]}_trainval.txt'))
    assert [f.split()[0] for f in flags] == voc_ids(voc07, 'trainval')
    assert {f.split()[1] for f in flags} <= {'1', '-1'}


@pytest.mark.parametrize('year', ['voc2012', 'voc2007'])
def test_voc_xml_and_label_pngs(demo, year):
    root = demo[year]
    palette = voc_palette().ravel().tolist()
    ids = voc_ids(root, 'trainval') + (
        voc_ids(root, 'test') if year == 'voc2007' else [])
    for img_id in ids:
        img = cv2.imread(osp.join(root, 'JPEGImages', f'{img_id}.jpg'))
        xml_root, size, objects = parse_voc_xml(
            osp.join(root, 'Annotations', f'{img_id}.xml'))
        h, w = img.shape[:2]
        assert (size['width'], size['height'], size['depth']) == (w, h, 3)
        assert xml_root.find('filename').text == f'{img_id}.jpg'
        assert xml_root.find('folder').text == osp.basename(root)
        assert 1 <= len(objects) <= 3

        png = Image.open(osp.join(root, 'SegmentationClass', f'{img_id}.png'))
        assert png.mode == 'P' and png.size == (w, h)
        assert png.getpalette()[:len(palette)] == palette
        seg = np.array(png)
        assert set(np.unique(seg)) <= set(range(5)) | {255}
        assert (seg == 255).any()
        aug_png = Image.open(
            osp.join(root, 'SegmentationClassAug', f'{img_id}.png'))
        assert aug_png.mode == 'L'
        aug = np.array(aug_png)
        assert set(np.unique(aug)) <= set(range(5))
        np.testing.assert_array_equal(seg[seg != 255], aug[seg != 255])

        for name, (x0, y0, x1, y1) in objects:
            assert name in CLASSES
            assert 1 <= x0 <= x1 <= w and 1 <= y0 <= y1 <= h
        # The union of a class's boxes is the extent of its label region.
        for name in {name for name, _ in objects}:
            boxes = np.array([b for n, b in objects if n == name])
            ys, xs = np.nonzero(aug == VOC_LABEL_IDS[CLASSES.index(name)])
            extent = [xs.min() + 1, ys.min() + 1, xs.max() + 1, ys.max() + 1]
            assert extent == [*boxes[:, :2].min(0), *boxes[:, 2:].max(0)]
        labels = {VOC_LABEL_IDS[CLASSES.index(n)] for n, _ in objects}
        assert set(np.unique(aug)) - {0} == labels


@pytest.mark.parametrize('split', ['train2017', 'val2017'])
def test_coco_instances(demo, split):
    from pycocotools.coco import COCO
    ann_file = osp.join(demo['coco'], 'annotations', f'instances_{split}.json')
    coco = COCO(ann_file)
    assert [c['name'] for c in coco.dataset['categories']] == list(
        COCO_CLASSES)
    assert [c['id'] for c in coco.dataset['categories']] == list(COCO_CAT_IDS)
    num = ARGS['num_det_train' if split == 'train2017' else 'num_det_val']
    img_ids = sorted(coco.getImgIds())
    assert len(img_ids) == num
    scenes = generate_scenes(f'coco_{split}', num, ARGS['image_size'],
                             ARGS['seed'])
    for img_id, scene in zip(img_ids, scenes):
        info = coco.loadImgs(img_id)[0]
        img = cv2.imread(osp.join(demo['coco'], split, info['file_name']))
        assert img.shape[:2] == (info['height'], info['width'])
        assert img.shape[:2] == scene.image.shape[:2]
        anns = coco.loadAnns(coco.getAnnIds(imgIds=img_id))
        assert len(anns) == len(scene.masks)
        for ann, label, mask in zip(anns, scene.labels, scene.masks):
            assert ann['category_id'] == COCO_CAT_IDS[label]
            assert ann['iscrowd'] == 0 and ann['area'] == mask.sum()
            x, y, bw, bh = ann['bbox']
            assert 0 <= x and x + bw <= info['width']
            assert 0 <= y and y + bh <= info['height']
            for poly in ann['segmentation']:
                assert len(poly) >= 6 and len(poly) % 2 == 0
            assert mask_iou(coco.annToMask(ann), mask) > 0.95


def test_written_images_match_scenes(demo):
    """``generate_scenes`` reproduces what was written (up to JPEG error)."""
    scene = next(generate_scenes('coco_train2017', 1, ARGS['image_size'],
                                 ARGS['seed']))
    img = cv2.imread(osp.join(demo['coco'], 'train2017', '000000000001.jpg'))
    diff = np.abs(img[..., ::-1].astype(int) - scene.image).mean()
    assert diff < 6  # JPEG error only


def test_determinism(tmp_path):
    small = dict(num_pretrain=3, num_seg_train=2, num_seg_val=1,
                 num_det_train=2, num_det_val=1, image_size=48)
    a = make_demo_data(str(tmp_path / 'a'), seed=3, **small)
    b = make_demo_data(str(tmp_path / 'b'), seed=3, **small)
    c = make_demo_data(str(tmp_path / 'c'), seed=4, **small)
    files = [
        'imagenet/meta/train.txt',
        'VOCdevkit/VOC2012/JPEGImages/2012_000000.jpg',
        'VOCdevkit/VOC2012/SegmentationClass/2012_000001.png',
        'VOCdevkit/VOC2007/Annotations/000001.xml',
        'coco/annotations/instances_train2017.json',
    ]

    def read(paths, name):
        with open(osp.join(paths['root'], name), 'rb') as f:
            return f.read()

    for name in files:
        assert read(a, name) == read(b, name), name
    assert all(read(a, n) != read(c, n) for n in files[1:])


def test_idempotent_and_marker(tmp_path):
    small = dict(num_pretrain=2, num_seg_train=1, num_seg_val=1,
                 num_det_train=1, num_det_val=1, image_size=40)
    root = str(tmp_path / 'demo')
    paths = make_demo_data(root, **small)
    marker = osp.join(root, '.complete')
    with open(marker) as f:
        first = json.load(f)
    assert first['args']['num_pretrain'] == 2
    stamp = os.stat(marker).st_mtime_ns
    jpg = osp.join(paths['voc2012'], 'JPEGImages', '2012_000000.jpg')
    os.remove(jpg)  # not regenerated: the marker says complete
    assert make_demo_data(root, **small) == paths
    assert os.stat(marker).st_mtime_ns == stamp and not osp.exists(jpg)
    with pytest.raises(FileExistsError):
        make_demo_data(root, **dict(small, seed=1))
    make_demo_data(root, overwrite=True, **small)  # forced regeneration
    assert osp.isfile(jpg)
    make_demo_data(root, overwrite=True, **dict(small, num_pretrain=3))
    assert len(read_lines(paths['imagenet_ann_file'])) == 3
    with open(marker) as f:
        assert json.load(f)['hash'] != first['hash']
    # nothing but the dataset is left beside root (no temp / old dirs)
    assert os.listdir(tmp_path) == ['demo']
    with open(paths['readme']) as f:
        assert 'synthetic' in f.read()


# ------------------------------------------------ real OpenMMLab datasets
def test_mmpretrain_imagenet(demo):
    pytest.importorskip('mmpretrain')
    from mmpretrain.datasets import ImageNet
    dataset = ImageNet(
        data_root=demo['imagenet'],
        ann_file='meta/train.txt',
        data_prefix='train')
    assert len(dataset) == ARGS['num_pretrain']
    info = dataset.get_data_info(0)
    assert osp.isfile(info['img_path'])
    assert 0 <= info['gt_label'] < len(CLASSES)


def test_mmseg_pascal_voc(demo):
    pytest.importorskip('mmseg')
    from mmseg.datasets import PascalVOCDataset
    from mmseg.datasets.transforms import LoadAnnotations
    for seg_dir in ('SegmentationClass', 'SegmentationClassAug'):
        dataset = PascalVOCDataset(
            data_root=demo['voc2012'],
            data_prefix=dict(img_path='JPEGImages', seg_map_path=seg_dir),
            ann_file='ImageSets/Segmentation/train.txt',
            pipeline=[LoadAnnotations()])
        assert len(dataset) == ARGS['num_seg_train']
        assert dataset.metainfo['classes'][1:5] == CLASSES
        info = dataset[0]
        assert osp.isfile(info['img_path'])
        # palette PNGs are read as label indices, not colours
        labels = set(np.unique(info['gt_seg_map']))
        assert labels - {0} and labels <= set(range(5)) | {255}


def test_mmdet_coco(demo):
    pytest.importorskip('mmdet')
    from mmdet.datasets import CocoDataset
    dataset = CocoDataset(
        data_root=demo['coco'],
        ann_file='annotations/instances_train2017.json',
        data_prefix=dict(img='train2017/'),
        metainfo=dict(classes=COCO_CLASSES),
        pipeline=[])
    assert len(dataset) == ARGS['num_det_train']
    scenes = generate_scenes('coco_train2017', len(dataset),
                             ARGS['image_size'], ARGS['seed'])
    for i, scene in enumerate(scenes):
        info = dataset[i]
        assert osp.isfile(info['img_path'])
        # categories map to labels in CLASSES order
        assert [x['bbox_label'] for x in info['instances']] == scene.labels
        boxes = np.array([x['bbox'] for x in info['instances']])
        # COCO xywh -> mmdet xyxy with exclusive right/bottom edges
        np.testing.assert_allclose(boxes, scene.bboxes + [0, 0, 1, 1])
        assert all(x['mask'] for x in info['instances'])


def test_mmdet_voc2007(demo):
    pytest.importorskip('mmdet')
    from mmdet.datasets import VOCDataset
    dataset = VOCDataset(
        data_root=demo['voc_devkit'],
        ann_file='VOC2007/ImageSets/Main/trainval.txt',
        data_prefix=dict(sub_data_root='VOC2007/'),
        metainfo=dict(classes=CLASSES),
        pipeline=[])
    assert dataset.metainfo['dataset_type'] == 'VOC2007'
    assert len(dataset) == ARGS['num_det_train']
    scenes = generate_scenes('voc2007', len(dataset), ARGS['image_size'],
                             ARGS['seed'])
    for i, scene in enumerate(scenes):
        info = dataset[i]
        assert osp.isfile(info['img_path'])
        assert (info['height'], info['width']) == scene.image.shape[:2]
        assert [x['bbox_label'] for x in info['instances']] == scene.labels
        assert not any(x['ignore_flag'] for x in info['instances'])
        np.testing.assert_array_equal(
            [x['bbox'] for x in info['instances']], scene.bboxes)


def test_davis_layout(tmp_path):
    """DAVIS-2017 layout: JPEG frames, palette PNG object ids, split lists; objects of the first
    frame move, and the writer is deterministic and skips complete data."""
    from densepre.demo import make_demo_davis
    from densepre.demo.davis import render_video
    args = dict(num_train=1, num_val=2, num_frames=8, height=40, width=72, seed=0)
    paths = make_demo_davis(str(tmp_path / 'DAVIS'), **args)
    root = paths['root']
    val = read_lines(paths['val_list'])
    assert val == ['val-000', 'val-001'] and read_lines(paths['train_list']) == ['train-000']
    for seq in val + ['train-000']:
        frames = sorted(os.listdir(osp.join(root, 'JPEGImages', '480p', seq)))
        anns = sorted(os.listdir(osp.join(root, 'Annotations', '480p', seq)))
        assert frames == [f'{t:05d}.jpg' for t in range(8)]
        assert anns == [f'{t:05d}.png' for t in range(8)]
        masks = []
        for name in anns:
            with Image.open(osp.join(root, 'Annotations', '480p', seq, name)) as img:
                assert img.mode == 'P' and img.size == (72, 40)
                assert np.array(img.getpalette()[:6]).tolist() == [0, 0, 0, 128, 0, 0]
                masks.append(np.array(img))
        num = int(masks[0].max())
        assert num >= 1 and set(np.unique(masks[0])) == set(range(num + 1))
        assert all(m.max() <= num for m in masks)
        assert any((m != masks[0]).any() for m in masks[1:])  # objects move
        assert cv2.imread(osp.join(root, 'JPEGImages', '480p', seq, frames[0])).shape == \
            (40, 72, 3)
    rng = np.random.default_rng([0, 200, 1, 0])
    _, ids = render_video(rng, 8, 40, 72)
    with Image.open(osp.join(root, 'Annotations', '480p', 'val-000', '00003.png')) as img:
        np.testing.assert_array_equal(np.array(img), ids[3])
    assert make_demo_davis(root, **args) == paths  # complete: nothing rewritten
    with pytest.raises(FileExistsError):
        make_demo_davis(root, **dict(args, seed=1))
