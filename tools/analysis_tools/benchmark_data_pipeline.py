"""Throughput of a config's train data pipeline alone (one process = one dataloader worker),
optionally against mmpretrain's plain multi-view pipeline with the same augmentations.

The config's ``train_dataloader.dataset`` is pointed at a synthetic ImageNet-style demo set
(``densepre.demo.imagenet_voc_coco.make_demo_data``, JPEGs whose shorter side is 1-2x
``--image-size``) written to a temp dir, and ``dataset[i]`` is timed: file read + decode + every
transform + ``PackInputs``, i.e. the per-sample work of one dataloader worker (collation excluded).
Like an MMEngine worker the process runs single-threaded by default (``torch.set_num_threads(1)``,
``cv2.setNumThreads(0)``, as the configs' ``env_cfg.mp_cfg.opencv_num_threads=0``).

``--vs-mmpretrain`` derives the plain pipeline from the config's own one:
``LoadImageRobust`` -> mmcv ``LoadImageFromFile``, ``GeoMultiView(views=[dict(num, transforms)])``
-> mmpretrain ``MultiView(num_views, transforms)``, ``GeoRandomResizedCrop`` -> mmpretrain
``RandomResizedCrop`` (``min_overlap`` / ``overlap_tries`` dropped) and ``PackInputs`` without the
``view_geometry`` key; every other transform is kept as is. Both pipelines are timed alternately in
chunks of ``--chunk`` images on the same image indices, with the global RNGs seeded identically
before each chunk, so both draw the same crops and augmentations: the difference is the geometry
tracking (and the robust loader). The tool checks that on the first ``--check`` images both
produce pixel-identical views (``same_views``).

The reported ``ratio`` (densepre / mmpretrain images/s) is the median over rounds of the ratio of
the two adjacent chunks, which ran under the same machine load; the ratio of the median chunk
rates and of the totals are printed too. On a shared machine only ratios from one run mean much;
``images/CPU-s`` (images per second of this process's CPU time, ``time.process_time``) leaves out
the time other jobs take from it, so ``ratio_cpu`` is the closest to a quiet-machine ratio when
the pipeline runs single-threaded (the default).

Usage::

    python tools/analysis_tools/benchmark_data_pipeline.py configs/byol/byol_r50_8xb64_200e.py \\
        --vs-mmpretrain --n 400
"""
import argparse
import copy
import datetime
import json
import math
import os
import os.path as osp
import platform
import random
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from typing import List, Optional

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))

import numpy as np  # noqa: E402
import torch  # noqa: E402

import benchmark_train_step as bts  # noqa: E402

GEO_CROP_ONLY_KEYS = ('min_overlap', 'overlap_tries')
ROBUST_LOADER_ONLY_KEYS = ('on_error', 'min_size')


def _plain(obj):
    """ConfigDict / tuple trees -> plain dicts and lists (deep copy)."""
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, tuple):
        return tuple(_plain(v) for v in obj)
    if isinstance(obj, list):
        return [_plain(v) for v in obj]
    return copy.deepcopy(obj)


def _plain_view_transforms(transforms: list, notes: List[str]) -> list:
    out = []
    for t in transforms:
        t = dict(t)
        if bts._type(t).endswith('GeoRandomResizedCrop'):
            dropped = [k for k in GEO_CROP_ONLY_KEYS if t.pop(k, None) is not None]
            if 'min_overlap' in dropped:
                notes.append('min_overlap dropped: the plain crop is unconstrained')
            t['type'] = 'mmpretrain.RandomResizedCrop'
        if isinstance(t.get('transforms'), list):  # RandomApply / RandomChoice ...
            t['transforms'] = _plain_view_transforms(t['transforms'], notes)
        out.append(t)
    return out


def mmpretrain_pipeline(pipeline: list, notes: Optional[List[str]] = None) -> list:
    """mmpretrain's plain equivalent of a geometry-tracked densepre train pipeline."""
    notes = [] if notes is None else notes
    out = []
    for t in _plain(list(pipeline)):
        kind = bts._type(t)
        if kind.endswith('LoadImageRobust'):
            for k in ROBUST_LOADER_ONLY_KEYS:
                t.pop(k, None)
            t['type'] = 'mmcv.LoadImageFromFile'
        elif kind.endswith('GeoMultiView'):
            nums, transforms = [], []
            for group in t['views']:
                if group.get('overlap_with') is not None:
                    notes.append('overlap_with dropped: views are sampled independently')
                nums.append(int(group.get('num', 1)))
                transforms.append(_plain_view_transforms(group['transforms'], notes))
            t = dict(type='mmpretrain.MultiView', num_views=nums, transforms=transforms)
        elif kind.endswith('PackInputs'):
            keys = [k for k in (t.get('algorithm_keys') or ())
                    if k not in ('view_geometry', 'view_groups')]
            t['algorithm_keys'] = keys
        out.append(t)
    return out


def build_dataset(dataset_cfg: dict, pipeline: list, demo: dict):
    from densepre.registry import DATASETS
    cfg = _plain(dataset_cfg)
    cfg['pipeline'] = pipeline
    bts.point_dataset_at_demo(cfg, demo)
    return DATASETS.build(cfg)


def _seed(seed: int) -> None:
    np.random.seed(seed)
    random.seed(seed)


def same_views(a: dict, b: dict) -> bool:
    """Whether two packed samples hold pixel-identical views."""
    xa, xb = a['inputs'], b['inputs']
    if len(xa) != len(xb):
        return False
    return all(x.shape == y.shape and torch.equal(x, y) for x, y in zip(xa, xb))


class Subject:

    def __init__(self, label: str, name: str, dataset):
        self.label, self.name, self.dataset = label, name, dataset
        self.transforms = [type(t).__name__ for t in dataset.pipeline.transforms]
        self.seconds = 0.0
        self.cpu_seconds = 0.0
        self.images = 0
        self.chunk_rates: List[float] = []
        self.views = len(dataset[0]['inputs'])

    def run(self, indices: List[int], seed: int) -> None:
        _seed(seed)
        c0, t0 = time.process_time(), time.perf_counter()
        for i in indices:
            self.dataset[i]
        dt = time.perf_counter() - t0
        self.cpu_seconds += time.process_time() - c0
        self.seconds += dt
        self.images += len(indices)
        self.chunk_rates.append(len(indices) / dt)

    def summary(self) -> dict:
        ips = self.images / self.seconds
        return dict(label=self.label, pipeline=self.name, transforms=self.transforms,
                    images=self.images,
                    views_per_image=self.views, seconds=round(self.seconds, 3),
                    cpu_seconds=round(self.cpu_seconds, 3),
                    images_per_s=round(ips, 2), views_per_s=round(ips * self.views, 2),
                    images_per_cpu_s=round(self.images / self.cpu_seconds, 2),
                    median_chunk_images_per_s=round(statistics.median(self.chunk_rates), 2),
                    ms_per_image=round(1e3 / ips, 3))


def format_table(out: dict) -> str:
    s = out['settings']
    lines = [f"densepre data-pipeline benchmark  {s['date']}  {s['config']}  "
             f"{s['threads']} thread(s) (= one dataloader worker)  demo images "
             f"{s['num_images']} x {s['image_size']}-{2 * s['image_size']} px  "
             f"{s['n']} images per pipeline in chunks of {s['chunk']}"]
    head = ('', 'pipeline', 'views', 'images/s', 'views/s', 'median chunk img/s', 'ms/image',
            'images/CPU-s')
    rows = [head] + [(r['label'], r['pipeline'], r['views_per_image'], f"{r['images_per_s']:.1f}",
                      f"{r['views_per_s']:.1f}", f"{r['median_chunk_images_per_s']:.1f}",
                      f"{r['ms_per_image']:.2f}", f"{r['images_per_cpu_s']:.1f}")
                     for r in out['results']]
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(head))]
    for j, row in enumerate(rows):
        lines.append('  '.join(str(c).ljust(w) if i < 2 else str(c).rjust(w)
                               for i, (c, w) in enumerate(zip(row, widths))))
        if j == 0:
            lines.append('  '.join('-' * w for w in widths))
    if 'ratio' in out:
        lines.append(f"ratio densepre/mmpretrain images/s: {out['ratio']:.3f} wall-clock (median "
                     f"of paired chunks; of median chunk rates {out['ratio_of_medians']:.3f}, "
                     f"overall {out['ratio_total']:.3f}); {out['ratio_cpu']:.3f} per CPU second")
        lines.append(f"same crops and augmentations: pixel-identical views on the first "
                     f"{s['check']} images: {out['same_views']}")
    for note in out.get('notes', []):
        lines.append(f'note: {note}')
    return '\n'.join(lines)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="Time a config's train pipeline on demo data (one worker), optionally "
        "alternating with mmpretrain's plain MultiView pipeline.")
    parser.add_argument('config')
    parser.add_argument('--vs-mmpretrain', action='store_true',
                        help="also time mmpretrain's plain equivalent, alternately")
    parser.add_argument('--n', type=int, default=200, help='images per pipeline (default 200)')
    parser.add_argument('--chunk', type=int, default=10,
                        help='images per pipeline before switching to the other one')
    parser.add_argument('--warmup', type=int, default=4, help='untimed images per pipeline')
    parser.add_argument('--num-images', type=int, default=64, help='distinct demo images')
    parser.add_argument('--image-size', type=int, default=256,
                        help='shorter side of demo images is 1-2x this (default 256)')
    parser.add_argument('--size', type=int, default=None,
                        help='output size of the first view group (see benchmark_train_step)')
    parser.add_argument('--threads', type=int, default=1,
                        help='torch / OpenCV threads (default 1, like a dataloader worker)')
    parser.add_argument('--check', type=int, default=4,
                        help='images on which both pipelines must give identical views')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--cfg-options', nargs='+', default=[], metavar='KEY=VALUE')
    parser.add_argument('--json', metavar='OUT')
    parser.add_argument('--verbose', action='store_true', help='show warnings')
    args = parser.parse_args(argv)
    for key in ('n', 'chunk', 'num_images', 'image_size', 'threads'):
        if getattr(args, key) < 1:
            parser.error(f'--{key.replace("_", "-")} must be >= 1')
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    import cv2
    torch.set_num_threads(args.threads)
    cv2.setNumThreads(0 if args.threads == 1 else args.threads)
    from densepre.utils import register_all_modules
    register_all_modules()
    if not args.verbose:
        bts.quiet_logger()
        warnings.filterwarnings('ignore', message="Only use 'alpha' for pillow backend")

    cfg = bts.load_config(args.config, bts.parse_cfg_options(args.cfg_options))
    spec = bts.view_spec(cfg, args.size)
    dataset_cfg = cfg.train_dataloader.dataset
    notes: List[str] = []
    tmpdir = tempfile.mkdtemp(prefix='densepre_bench_')
    try:
        demo = bts.make_demo_root(tmpdir, args.num_images, args.image_size)
        subjects = [Subject('A', 'densepre (config)',
                            build_dataset(dataset_cfg, _plain(list(dataset_cfg.pipeline)), demo))]
        if args.vs_mmpretrain:
            plain = mmpretrain_pipeline(dataset_cfg.pipeline, notes)
            subjects.append(Subject('B', 'mmpretrain MultiView', build_dataset(
                dataset_cfg, plain, demo)))
        num = len(subjects[0].dataset)
        for s in subjects:  # warm-up (file cache, lazy imports)
            s.run([i % num for i in range(args.warmup)], args.seed)
            s.seconds, s.cpu_seconds, s.images, s.chunk_rates = 0.0, 0.0, 0, []
        same = None
        if len(subjects) == 2:  # same seed -> same crops and augmentations -> same pixels
            same = True
            for i in range(min(args.check, num)):
                outs = []
                for s in subjects:
                    _seed(args.seed + i)
                    outs.append(s.dataset[i])
                same = same and same_views(*outs)
        rounds = math.ceil(args.n / args.chunk)
        for r in range(rounds):
            start = r * args.chunk
            indices = [i % num for i in range(start, min(start + args.chunk, args.n))]
            order = subjects if r % 2 == 0 else subjects[::-1]
            for s in order:
                s.run(indices, args.seed + r)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)

    results = [s.summary() for s in subjects]
    out = dict(
        settings=dict(
            date=datetime.datetime.now().astimezone().isoformat(timespec='seconds'),
            host=platform.node(), cpu_count=os.cpu_count(), threads=args.threads,
            config=args.config, views=bts.describe_views(spec), n=args.n, chunk=args.chunk,
            warmup=args.warmup, check=args.check, num_images=args.num_images,
            image_size=args.image_size, size=args.size, seed=args.seed,
            cfg_options=args.cfg_options,
            command=' '.join(['python', 'tools/analysis_tools/benchmark_data_pipeline.py'] +
                             list(sys.argv[1:] if argv is None else argv))),
        results=results)
    if len(results) == 2:
        a, b = results
        # primary: median over rounds of the ratio of the two adjacent chunks (both ran under
        # the same load); also the ratio of the median chunk rates and the overall ratio
        out['ratio'] = round(statistics.median(
            ra / rb for ra, rb in zip(subjects[0].chunk_rates, subjects[1].chunk_rates)), 4)
        out['ratio_of_medians'] = round(
            a['median_chunk_images_per_s'] / b['median_chunk_images_per_s'], 4)
        out['ratio_total'] = round(a['images_per_s'] / b['images_per_s'], 4)
        out['time_ratio'] = round(1 / out['ratio'], 4)
        # per CPU second of this (single-threaded) process: time other jobs take from it on a
        # shared machine is not counted, so this is the closest to a quiet-machine ratio
        out['ratio_cpu'] = round(a['images_per_cpu_s'] / b['images_per_cpu_s'], 4)
        out['same_views'] = same
        out['notes'] = sorted(set(notes))
    print(format_table(out), flush=True)
    if args.json:
        os.makedirs(osp.dirname(osp.abspath(args.json)), exist_ok=True)
        with open(args.json, 'w') as f:
            json.dump(out, f, indent=2)
    return out


if __name__ == '__main__':
    main()
