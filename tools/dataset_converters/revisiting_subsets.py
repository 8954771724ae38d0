"""Image lists of the Revisiting-Contrastive dataset-bias study (Table 1, suppl. A.1), written from
a local copy of the source dataset; deterministic for a given ``--seed``.

    python tools/dataset_converters/revisiting_subsets.py in118k \\
        --src data/imagenet/train --out data/imagenet/meta/in118k.txt
    python tools/dataset_converters/revisiting_subsets.py in118k-lt \\
        --src data/imagenet/train --out data/imagenet/meta/in118k_lt.txt [--alpha 6]
    python tools/dataset_converters/revisiting_subsets.py oi118k \\
        --src data/openimages/train --out data/openimages/meta/oi118k.txt \\
        [--labels train-annotations-human-imagelabels-boxable.csv]
    python tools/dataset_converters/revisiting_subsets.py bdd100k \\
        --src data/bdd100k/images/100k/train --out data/bdd100k/meta/bdd100k_train.txt \\
        [--labels bdd100k_labels_images_train.json]

* ``in118k``: a uniform subset of ImageNet train, ``num / classes`` images from every class.
* ``in118k-lt``: a long-tailed subset of ``num`` images; class sizes proportional to draws of
  numpy's Pareto distribution with shape ``alpha`` (6, as ImageNet-LT, which the paper follows;
  numpy's ``pareto`` is the Lomax form, which gives ImageNet-LT's 1280..5 range at this size),
  clipped to ``[--min-per-class, images available]``, summing exactly to ``num``; sizes are
  assigned to the (sorted) classes in a seeded random order.
* ``oi118k``: ``num`` images drawn uniformly from OpenImages-v4 train.
* ``bdd100k``: the complete train split.

Every list has one ``relative/path [label]`` line per image (``ImageList`` format, paths relative
to ``--src``, sorted). The class histogram (image-level labels for OpenImages, scene / weather /
time of day for BDD100K when ``--labels`` is given) is printed, and plotted with ``--plot``.
"""
import argparse
import csv
import json
import os
import os.path as osp
from collections import Counter
from typing import Dict, List, Optional, Sequence

import numpy as np

IMG_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.webp')


def list_images(root: str) -> List[str]:
    """All image files below ``root``, as sorted paths relative to it."""
    if not osp.isdir(root):
        raise FileNotFoundError(f'--src {root} is not a directory')
    out = []
    for d, _, files in os.walk(root):
        for f in files:
            if f.lower().endswith(IMG_EXTENSIONS):
                out.append(osp.relpath(osp.join(d, f), root).replace(os.sep, '/'))
    if not out:
        raise ValueError(f'no image ({", ".join(IMG_EXTENSIONS)}) found below {root}')
    return sorted(out)


def images_by_class(root: str) -> Dict[str, List[str]]:
    """ImageNet layout ``<class dir>/<image>``: class name -> sorted relative paths."""
    by_class: Dict[str, List[str]] = {}
    for path in list_images(root):
        if '/' not in path:
            raise ValueError(f'{root}/{path}: expected class folders (<wnid>/<image>)')
        by_class.setdefault(path.split('/')[0], []).append(path)
    return dict(sorted(by_class.items()))


def pareto_class_sizes(num: int, available: Sequence[int], alpha: float, min_per_class: int,
                       rng: np.random.Generator) -> np.ndarray:
    """Class sizes ∝ Pareto(alpha) draws, clipped to [min_per_class, available], sum == num."""
    available = np.asarray(available, dtype=np.int64)
    lo = np.minimum(min_per_class, available)
    if lo.sum() > num or available.sum() < num:
        raise ValueError(f'cannot draw {num} images with at least {min_per_class} per class from '
                         f'{len(available)} classes holding {int(available.sum())} images')
    weights = rng.pareto(alpha, len(available))
    weights = weights[rng.permutation(len(available))]

    def sizes(scale):
        return np.clip(np.floor(scale * weights).astype(np.int64), lo, available)

    low, high = 0.0, 1.0
    while sizes(high).sum() < num:
        high *= 2
    for _ in range(200):  # largest scale whose floor-sizes do not exceed num
        mid = (low + high) / 2
        low, high = (mid, high) if sizes(mid).sum() <= num else (low, mid)
    out = sizes(low)
    for c in np.argsort(-weights, kind='stable'):  # hand out the rest, largest weights first
        if out.sum() == num:
            break
        out[c] += min(available[c] - out[c], num - out.sum())
    assert out.sum() == num
    return out


def in118k(args, rng) -> List[str]:
    by_class = images_by_class(args.src)
    if args.num % len(by_class):
        raise ValueError(f'--num {args.num} is not a multiple of the {len(by_class)} classes')
    per_class = args.num // len(by_class)
    lines = []
    for label, (name, paths) in enumerate(by_class.items()):
        if len(paths) < per_class:
            raise ValueError(f'class {name} has {len(paths)} images, fewer than {per_class}')
        pick = sorted(rng.choice(len(paths), per_class, replace=False))
        lines += [f'{paths[i]} {label}' for i in pick]
    return sorted(lines)


def in118k_lt(args, rng) -> List[str]:
    by_class = images_by_class(args.src)
    sizes = pareto_class_sizes(args.num, [len(p) for p in by_class.values()], args.alpha,
                               args.min_per_class, rng)
    lines = []
    for label, ((name, paths), n) in enumerate(zip(by_class.items(), sizes)):
        pick = sorted(rng.choice(len(paths), int(n), replace=False))
        lines += [f'{paths[i]} {label}' for i in pick]
    return sorted(lines)


def oi118k(args, rng) -> List[str]:
    paths = list_images(args.src)
    if len(paths) < args.num:
        raise ValueError(f'{args.src} holds {len(paths)} images, fewer than --num {args.num}')
    return sorted(paths[i] for i in rng.choice(len(paths), args.num, replace=False))


def bdd100k(args, rng) -> List[str]:
    return list_images(args.src)


def class_counts(kind: str, lines: List[str], labels: Optional[str]) -> Dict[str, Counter]:
    """Histograms to print: ``{title: Counter}``."""
    if kind in ('in118k', 'in118k-lt'):
        return {'images per class': Counter(ln.split('/')[0] for ln in lines)}
    if not labels:
        return {}
    if not osp.isfile(labels):
        raise FileNotFoundError(f'--labels {labels} not found')
    stems = {osp.splitext(osp.basename(ln))[0] for ln in lines}
    if kind == 'oi118k':  # image-level labels csv: ImageID,Source,LabelName,Confidence
        counts = Counter()
        with open(labels, newline='') as f:
            for row in csv.DictReader(f):
                if row['ImageID'] in stems and float(row.get('Confidence', 1)) > 0:
                    counts[row['LabelName']] += 1
        return {'images per label': counts}
    with open(labels) as f:  # BDD100K labels json: [{name, attributes: {...}}]
        records = [r for r in json.load(f) if osp.splitext(r['name'])[0] in stems]
    return {f'images per {attr}': Counter(r.get('attributes', {}).get(attr, 'undefined')
                                          for r in records)
            for attr in ('scene', 'weather', 'timeofday')}


def print_histogram(title: str, counts: Counter, width: int = 50, rows: int = 20) -> None:
    values = sorted(counts.values(), reverse=True)
    print(f'{title}: {len(values)} classes, {sum(values)} images, max {values[0]}, '
          f'min {values[-1]}, median {int(np.median(values))}, imbalance (max/min) '
          f'{values[0] / max(values[-1], 1):.1f}')
    if len(values) <= rows:
        items = counts.most_common()
    else:  # classes sorted by size, in `rows` equal groups: mean size of each group
        groups = np.array_split(np.asarray(values), rows)
        items, start = [], 0
        for g in groups:
            items.append((f'classes {start}-{start + len(g) - 1}', float(g.mean())))
            start += len(g)
    top = max(v for _, v in items)
    for name, v in items:
        print(f'  {str(name):>24} {v:10.1f} {"#" * max(1, round(width * v / top))}')


def plot_histograms(hists: Dict[str, Counter], path: str) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(hists), figsize=(6 * len(hists), 4), squeeze=False)
    for ax, (title, counts) in zip(axes[0], hists.items()):
        values = sorted(counts.values(), reverse=True)
        ax.bar(range(len(values)), values, width=1.0)
        ax.set_xlabel('class (sorted by size)')
        ax.set_ylabel('images')
        ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path)


BUILDERS = {'in118k': in118k, 'in118k-lt': in118k_lt, 'oi118k': oi118k, 'bdd100k': bdd100k}
DEFAULT_NUM = {'in118k': 118000, 'in118k-lt': 118000, 'oi118k': 118000}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('kind', choices=sorted(BUILDERS))
    parser.add_argument('--src', required=True, help='local copy of the source train images')
    parser.add_argument('--out', required=True, help='ann file to write')
    parser.add_argument('--num', type=int, help='images (default 118000; bdd100k: all)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--alpha', type=float, default=6.0, help='in118k-lt Pareto shape')
    parser.add_argument('--min-per-class', type=int, default=5, help='in118k-lt')
    parser.add_argument('--labels', help='oi118k: image-level labels csv; bdd100k: labels json')
    parser.add_argument('--plot', help='also save the histogram(s) as this image')
    args = parser.parse_args(argv)
    if args.num is not None and args.kind == 'bdd100k':
        parser.error('bdd100k uses the complete train split: --num is not accepted')
    if args.num is None:
        args.num = DEFAULT_NUM.get(args.kind)
    if args.num is not None and args.num < 1:
        parser.error('--num must be >= 1')
    return args


def main(argv=None) -> List[str]:
    args = parse_args(argv)
    rng = np.random.default_rng(args.seed)
    lines = BUILDERS[args.kind](args, rng)
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    with open(args.out, 'w') as f:
        f.write('\n'.join(lines) + '\n')
    print(f'{args.kind}: wrote {len(lines)} images to {args.out} (seed {args.seed})')
    hists = class_counts(args.kind, lines, args.labels)
    for title, counts in hists.items():
        print_histogram(title, counts)
    if args.plot:
        if not hists:
            raise ValueError('--plot needs class labels (give --labels for oi118k / bdd100k)')
        plot_histograms(hists, args.plot)
    return lines


if __name__ == '__main__':
    main()
