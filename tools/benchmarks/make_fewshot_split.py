"""Few-shot ADE20k training subsets (LOCA Table 2): deterministic mmseg ann-files per fraction/fold.

    python tools/benchmarks/make_fewshot_split.py DATA_ROOT --all
    python tools/benchmarks/make_fewshot_split.py DATA_ROOT --fraction 1/8 --folds 2 [--seed 0]
        [--out-dir DIR]

DATA_ROOT is the ADEChallengeData2016 directory. The training image names
(``images/training/*.jpg``, sorted) are permuted with ``np.random.default_rng([seed, fold])``; the
subset of a fraction f is the first ``floor(f * N)`` names of that permutation (at least 1), so
within a fold the fractions are nested (1/32 within 1/16 ...) and every run of this tool on the
same image list gives the same files. Fraction 1 lists every image (folds then differ only by the
fine-tuning seed). Each list is written to
``OUT_DIR/ade20k_train_frac<a>-<b>_fold<k>.txt`` (``frac1`` for the full set; default OUT_DIR:
``DATA_ROOT/fewshot``), one image name without extension per line -- mmseg's ann-file format, given
to the few-shot config as ``train_dataloader.dataset.ann_file``. LOCA: 1/32 of the 20,210 images
is ~630 images; five folds.
"""
import argparse
import glob
import math
import os
import os.path as osp
from fractions import Fraction
from typing import List, Sequence

import numpy as np

FRACTIONS = ('1/32', '1/16', '1/8', '1/4', '1/2', '1')
FOLDS = (0, 1, 2, 3, 4)


def parse_fraction(text: str) -> Fraction:
    try:
        frac = Fraction(text)
    except (ValueError, ZeroDivisionError):
        raise ValueError(f'bad fraction {text!r}: use e.g. 1/32, 1/2 or 1') from None
    if not 0 < frac <= 1:
        raise ValueError(f'fraction {text!r} must lie in (0, 1]')
    return frac


def split_name(fraction, fold: int) -> str:
    frac = parse_fraction(str(fraction))
    tag = '1' if frac == 1 else f'{frac.numerator}-{frac.denominator}'
    return f'ade20k_train_frac{tag}_fold{fold}.txt'


def training_names(data_root: str, img_dir: str = 'images/training',
                   suffix: str = '.jpg') -> List[str]:
    folder = osp.join(data_root, img_dir)
    if not osp.isdir(folder):
        raise FileNotFoundError(f'ADE20k training images not found: {folder} (DATA_ROOT must be '
                                'the ADEChallengeData2016 directory)')
    names = sorted(osp.basename(p)[:-len(suffix)]
                   for p in glob.glob(osp.join(folder, f'*{suffix}')))
    if not names:
        raise FileNotFoundError(f'no *{suffix} images in {folder}')
    return names


def fewshot_subset(names: Sequence[str], fraction, fold: int, seed: int = 0) -> List[str]:
    """The names of fold ``fold`` at ``fraction`` (in permutation order)."""
    frac = parse_fraction(str(fraction))
    if fold < 0:
        raise ValueError(f'fold must be >= 0, got {fold}')
    order = np.random.default_rng([seed, fold]).permutation(len(names))
    num = max(1, math.floor(frac * len(names)))
    return [names[i] for i in order[:num]]


def write_split(names: Sequence[str], path: str) -> None:
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    tmp = f'{path}.part'
    with open(tmp, 'w') as f:
        f.write(''.join(f'{n}\n' for n in names))
    os.replace(tmp, path)


def make_splits(data_root: str, fractions=FRACTIONS, folds=FOLDS, seed: int = 0,
                out_dir: str = None) -> List[str]:
    names = training_names(data_root)
    out_dir = out_dir or osp.join(data_root, 'fewshot')
    paths = []
    for fold in folds:
        for fraction in fractions:
            path = osp.join(out_dir, split_name(fraction, fold))
            write_split(fewshot_subset(names, fraction, fold, seed), path)
            paths.append(path)
    return paths


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('data_root', help='the ADEChallengeData2016 directory')
    parser.add_argument('--fraction', nargs='+', default=None,
                        help=f'fractions (default with --all: {" ".join(FRACTIONS)})')
    parser.add_argument('--folds', nargs='+', type=int, default=None,
                        help='folds (default with --all: 0 1 2 3 4)')
    parser.add_argument('--all', action='store_true', help='every LOCA fraction and fold')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--out-dir', help='default: DATA_ROOT/fewshot')
    args = parser.parse_args(argv)
    if not args.all and (args.fraction is None or args.folds is None):
        parser.error('give --fraction and --folds, or --all')
    fractions = args.fraction or FRACTIONS
    folds = args.folds if args.folds is not None else FOLDS
    try:
        for fraction in fractions:
            parse_fraction(fraction)
        paths = make_splits(args.data_root, fractions, folds, args.seed, args.out_dir)
    except (FileNotFoundError, ValueError) as e:
        parser.exit(2, f'error: {e}\n')
    for path in paths:
        with open(path) as f:
            print(f'{sum(1 for _ in f):6d} images  {path}')
    return paths


if __name__ == '__main__':
    main()
