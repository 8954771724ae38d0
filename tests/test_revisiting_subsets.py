"""Dataset-bias lists (tools/dataset_converters/revisiting_subsets.py) on small fake source trees
in the real layouts: sizes, class balance / long tail, determinism, histogram, loadable by the
shipped dataset-bias configs."""
import csv
import json
import os
import os.path as osp
import subprocess
import sys
from collections import Counter

import cv2
import numpy as np
import pytest
from mmengine.config import Config

from densepre.registry import DATASETS
from utils import REPO

TOOL = osp.join(REPO, 'tools/dataset_converters/revisiting_subsets.py')
sys.path.insert(0, osp.dirname(TOOL))
import revisiting_subsets  # noqa: E402


def write_images(root, rel_paths):
    img = np.full((8, 8, 3), 127, np.uint8)
    for rel in rel_paths:
        path = osp.join(root, rel)
        os.makedirs(osp.dirname(path), exist_ok=True)
        cv2.imwrite(path, img)


@pytest.fixture(scope='module')
def imagenet(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('imagenet') / 'train')
    sizes = {f'n{c:08d}': 40 + 3 * c for c in range(20)}
    write_images(root, [f'{w}/{w}_{i}.JPEG' for w, n in sizes.items() for i in range(n)])
    return root, sizes


def run(*argv):
    return subprocess.run([sys.executable, TOOL, *argv], capture_output=True, text=True,
                          check=True, env=dict(os.environ, PYTHONPATH=REPO)).stdout


def read(path):
    with open(path) as f:
        return f.read().splitlines()


def test_in118k_uniform_deterministic_and_loadable(imagenet, tmp_path):
    src, sizes = imagenet
    out = run('in118k', '--src', src, '--out', str(tmp_path / 'a.txt'), '--num', '200')
    lines = read(tmp_path / 'a.txt')
    assert len(lines) == len(set(lines)) == 200
    per_class = Counter(ln.split('/')[0] for ln in lines)
    assert set(per_class.values()) == {10} and len(per_class) == 20
    labels = {ln.split('/')[0]: int(ln.split()[1]) for ln in lines}
    assert labels == {w: i for i, w in enumerate(sorted(sizes))}
    assert all(osp.isfile(osp.join(src, ln.split()[0])) for ln in lines)
    assert '20 classes, 200 images, max 10, min 10' in out
    run('in118k', '--src', src, '--out', str(tmp_path / 'b.txt'), '--num', '200')
    run('in118k', '--src', src, '--out', str(tmp_path / 'c.txt'), '--num', '200', '--seed', '1')
    assert read(tmp_path / 'b.txt') == lines != read(tmp_path / 'c.txt')

    cfg = Config.fromfile(osp.join(
        REPO, 'configs/revisiting/dataset_bias/mocov2_r50_8xb32-in118k_400e.py'))
    ds = dict(cfg.train_dataloader.dataset, data_root=osp.dirname(src),
              ann_file=str(tmp_path / 'a.txt'), pipeline=[])
    assert len(DATASETS.build(ds)) == 200
    with pytest.raises(subprocess.CalledProcessError):
        run('in118k', '--src', src, '--out', str(tmp_path / 'd.txt'), '--num', '210')


def test_in118k_lt_is_long_tailed_with_exact_total(imagenet, tmp_path):
    src, sizes = imagenet
    plot = tmp_path / 'hist.png'
    out = run('in118k-lt', '--src', src, '--out', str(tmp_path / 'lt.txt'), '--num', '300',
              '--min-per-class', '2', '--plot', str(plot))
    lines = read(tmp_path / 'lt.txt')
    assert len(lines) == len(set(lines)) == 300
    counts = Counter(ln.split('/')[0] for ln in lines)
    assert len(counts) == 20 and plot.stat().st_size > 0
    assert all(2 <= counts[w] <= sizes[w] for w in sizes)
    values = sorted(counts.values(), reverse=True)
    assert values[0] / values[-1] >= 5  # a long tail, not a uniform split
    assert sum(values[:4]) > sum(values[10:])  # head classes hold most images
    assert 'imbalance' in out and 'images per class: 20 classes, 300 images' in out
    run('in118k-lt', '--src', src, '--out', str(tmp_path / 'lt2.txt'), '--num', '300',
        '--min-per-class', '2')
    assert read(tmp_path / 'lt2.txt') == lines


def test_pareto_class_sizes_respect_bounds():
    rng = np.random.default_rng(0)
    avail = [1300] * 1000
    s = revisiting_subsets.pareto_class_sizes(118000, avail, 6.0, 5, rng)
    assert s.sum() == 118000 and s.min() >= 5 and s.max() <= 1300
    assert s.max() / s.min() > 50
    with pytest.raises(ValueError, match='cannot draw'):
        revisiting_subsets.pareto_class_sizes(10, [3, 3], 6.0, 1, rng)


def test_oi118k_random_subset_with_label_histogram(tmp_path):
    src = tmp_path / 'openimages' / 'train'
    ids = [f'{i:016x}' for i in range(60)]
    write_images(str(src), [f'{i}.jpg' for i in ids])
    labels = tmp_path / 'labels.csv'
    with open(labels, 'w', newline='') as f:
        w = csv.writer(f)
        w.writerow(['ImageID', 'Source', 'LabelName', 'Confidence'])
        for n, i in enumerate(ids):
            w.writerow([i, 'verification', '/m/person', 1])
            w.writerow([i, 'verification', '/m/car' if n % 2 else '/m/tree', 1])
            w.writerow([i, 'verification', '/m/dog', 0])  # negative label: not counted
    out = run('oi118k', '--src', str(src), '--out', str(tmp_path / 'oi.txt'), '--num', '25',
              '--labels', str(labels))
    lines = read(tmp_path / 'oi.txt')
    assert len(set(lines)) == 25 and set(lines) <= {f'{i}.jpg' for i in ids}
    assert 'images per label: 3 classes, 50 images, max 25' in out and '/m/dog' not in out


def test_bdd100k_complete_split_with_attribute_histograms(tmp_path):
    src = tmp_path / 'bdd100k' / 'images' / '100k' / 'train'
    names = [f'0000f77c-{i:08x}.jpg' for i in range(12)]
    write_images(str(src), names)
    labels = tmp_path / 'bdd100k_labels_images_train.json'
    labels.write_text(json.dumps([
        dict(name=n, attributes=dict(weather='clear', scene='city street' if i < 8 else
                                     'highway', timeofday='daytime'))
        for i, n in enumerate(names)]))
    out = run('bdd100k', '--src', str(src), '--out', str(tmp_path / 'bdd.txt'),
              '--labels', str(labels))
    assert read(tmp_path / 'bdd.txt') == sorted(names)
    assert 'images per scene: 2 classes, 12 images, max 8, min 4' in out
