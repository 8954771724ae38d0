"""Datasets and image loading: real formats, hostile image files, clear errors."""
import io

import cv2
import numpy as np
import pytest
import torch
from mmengine.dataset import default_collate
from PIL import Image

from densepre.datasets import CocoImages, ImageList
from densepre.datasets.transforms import loading
from densepre.datasets.transforms.loading import decode_image
from utils import TINY, data_opts, losses_by_iter, run_train

RNG = np.random.default_rng(0)


def jpeg_bytes(img, mode='RGB'):
    buf = io.BytesIO()
    Image.fromarray(img).convert(mode).save(buf, format='JPEG')
    return buf.getvalue()


def write_hostile_folder(root):
    """An ImageNet-style folder with every kind of image a crawl contains, plus a list file
    naming a missing image. Returns (ann_file, number of unreadable entries)."""
    cls = root / 'train' / 'n0001'
    cls.mkdir(parents=True)
    rgb = RNG.integers(0, 255, (40, 50, 3), dtype=np.uint8)
    files = {
        'good.JPEG': jpeg_bytes(rgb),
        'gray.JPEG': jpeg_bytes(rgb[..., 0], 'L'),
        'cmyk.JPEG': jpeg_bytes(rgb, 'CMYK'),
        'truncated_header.JPEG': jpeg_bytes(rgb)[:100],
        'corrupt.JPEG': RNG.integers(0, 255, 500, dtype=np.uint8).tobytes(),
        'empty.JPEG': b'',
    }
    for name, data in files.items():
        (cls / name).write_bytes(data)
    cv2.imwrite(str(cls / 'deep16.png'), RNG.integers(0, 65535, (30, 30, 3), dtype=np.uint16))
    Image.fromarray(RNG.integers(0, 255, (30, 20, 4), dtype=np.uint8), 'RGBA').save(
        cls / 'rgba.png')
    Image.fromarray(np.full((1, 1, 3), 200, np.uint8)).save(cls / 'one_pixel.png')
    Image.fromarray(RNG.integers(0, 255, (25, 25), dtype=np.uint8)).convert('P').save(
        cls / 'palette.png')
    names = sorted(p.name for p in cls.iterdir()) + ['missing.JPEG']
    ann = root / 'train.txt'
    ann.write_text(''.join(f'n0001/{n} 0\n' for n in names))
    unreadable = {'truncated_header.JPEG', 'corrupt.JPEG', 'empty.JPEG', 'missing.JPEG'}
    return ann, len(unreadable), len(names)


@pytest.mark.parametrize('mode, shape', [
    ('RGB', (12, 10, 3)), ('L', (12, 10)), ('CMYK', (12, 10, 3)), ('RGBA', (12, 10, 4)),
    ('I;16', (12, 10))])
def test_decode_converts_every_variant_to_8bit_bgr(mode, shape):
    arr = RNG.integers(0, 255 if mode != 'I;16' else 65535, shape).astype(
        np.uint16 if mode == 'I;16' else np.uint8)
    buf = io.BytesIO()
    img = Image.fromarray(arr) if mode != 'CMYK' else Image.fromarray(arr).convert('CMYK')
    img.save(buf, format='PNG' if mode in ('RGBA', 'I;16') else
             'JPEG' if mode == 'CMYK' else 'PNG')
    out = decode_image(buf.getvalue())
    assert out.dtype == np.uint8 and out.shape == (12, 10, 3)
    if mode == 'RGB':  # lossless PNG: exact, and channel order is BGR
        np.testing.assert_array_equal(out, arr[..., ::-1])


def test_hostile_images_are_loaded_or_skipped_never_crash(tmp_path):
    ann, n_bad, n_total = write_hostile_folder(tmp_path)
    pipeline = [
        dict(type='LoadImageRobust'),
        dict(type='GeoMultiView', views=[
            dict(num=2, transforms=[dict(type='GeoRandomResizedCrop', scale=16)])]),
        dict(type='PackInputs', algorithm_keys=['view_geometry']),
    ]
    ds = ImageList(data_root=str(tmp_path), ann_file='train.txt', data_prefix='train',
                   pipeline=pipeline)
    assert len(ds) == n_total
    loading.SKIPPED.clear()
    loader = torch.utils.data.DataLoader(ds, batch_size=4, collate_fn=default_collate)
    batches = list(loader)
    assert sum(len(b['data_samples']) for b in batches) == n_total
    assert all(v.shape[1:] == (3, 16, 16) for b in batches for v in b['inputs'])
    # each unreadable entry was skipped (and counted) at least once; the readable ones never
    assert sum(loading.SKIPPED.values()) >= n_bad
    assert loading.SKIPPED['FileNotFoundError'] >= 1


def test_on_error_raise_names_the_file(tmp_path):
    write_hostile_folder(tmp_path)
    ds = ImageList(data_root=str(tmp_path), ann_file='train.txt', data_prefix='train',
                   pipeline=[dict(type='LoadImageRobust', on_error='raise')])
    index = {ds.get_data_info(i)['img_path'].rsplit('/', 1)[-1]: i for i in range(len(ds))}
    with pytest.raises(IOError, match='corrupt.JPEG'):
        ds[index['corrupt.JPEG']]
    with pytest.raises(FileNotFoundError, match='missing.JPEG'):
        ds[index['missing.JPEG']]
    assert ds[index['cmyk.JPEG']]['img'].shape == (40, 50, 3)


def test_training_epoch_over_hostile_folder(tmp_path):
    write_hostile_folder(tmp_path)
    run_train(TINY['mocov2'], tmp_path / 'work', f'train_dataloader.dataset.data_root={tmp_path}',
              'train_dataloader.dataset.ann_file=train.txt', 'train_cfg.max_epochs=1',
              'model.queue_len=8')
    assert len(losses_by_iter(tmp_path / 'work')) == 2


def test_image_list_folder_mode_and_class_subset(demo_root):
    root = f'{demo_root}/imagenet'
    full = ImageList(data_root=root, data_prefix='train')
    listed = ImageList(data_root=root, ann_file='meta/train.txt', data_prefix='train')
    assert len(full) == len(listed) == 32
    subset = ImageList(data_root=root, data_prefix='train', class_subset=['n02834778'],
                       with_label=True)
    assert 0 < len(subset) < 32
    infos = [subset.get_data_info(i) for i in range(len(subset))]
    assert all(d['gt_label'] == 0 and '/n02834778/' in d['img_path'] for d in infos)
    with pytest.raises(ValueError, match='class_subset'):
        ImageList(data_root=root, data_prefix='train', class_subset=['n99999999'])


def test_image_list_errors_name_paths(tmp_path):
    with pytest.raises(FileNotFoundError, match='ann_file not found'):
        ImageList(data_root=str(tmp_path), ann_file='meta/nope.txt')
    with pytest.raises(FileNotFoundError, match='image folder not found'):
        ImageList(data_root=str(tmp_path), data_prefix='absent')


def test_coco_images_as_unlabelled_set(demo_root):
    ds = CocoImages(data_root=f'{demo_root}/coco', ann_file='annotations/instances_train2017.json',
                    data_prefix='train2017')
    paths = [ds.get_data_info(i)['img_path'] for i in range(len(ds))]
    assert len(ds) == 8 and all(p.endswith('.jpg') for p in paths)
    folder = CocoImages(data_root=f'{demo_root}/coco', data_prefix='train2017')
    assert sorted(folder.get_data_info(i)['img_path'] for i in range(len(folder))) == sorted(paths)


def test_demo_data_pretrains_through_the_real_list(demo_root, tmp_path):
    run_train(TINY['byol'], tmp_path, *data_opts(demo_root), 'train_cfg.max_epochs=1')
    assert len(losses_by_iter(tmp_path)) == 8


def test_packaged_imagenet100_subset(tmp_path):
    from densepre.datasets.image_list import PACKAGED_SUBSETS
    wnids = open(PACKAGED_SUBSETS['imagenet100']).read().split()
    assert len(wnids) == len(set(wnids)) == 100 and all(w.startswith('n') for w in wnids)
    for wnid in (wnids[0], 'n99999999'):
        (tmp_path / 'train' / wnid).mkdir(parents=True)
        (tmp_path / 'train' / wnid / 'x.JPEG').write_bytes(jpeg_bytes(
            RNG.integers(0, 255, (8, 8, 3), dtype=np.uint8)))
    ds = ImageList(data_root=str(tmp_path), data_prefix='train', class_subset='imagenet100',
                   with_label=True)
    assert len(ds) == 1 and ds.get_data_info(0)['gt_label'] == 0
    assert len(ds.metainfo['classes']) == 100
