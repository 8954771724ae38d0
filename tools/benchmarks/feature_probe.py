"""Frozen-feature logistic-regression probe (Revisiting Contrastive, appendix A.2); VOC07 SVMs.

    python tools/benchmarks/feature_probe.py CKPT --data voc07 [--data-root data/VOCdevkit/VOC2007]
        [--img-size 224] [--batch-size 64] [--workers 4] [--out-dir DIR] [--device cpu|cuda]
        [--classifier logreg|svm]
    python tools/benchmarks/feature_probe.py CKPT --data imagelist --data-root DIR \
        --train-ann meta/train.txt --val-ann meta/val.txt --test-ann meta/test.txt [--img-prefix P]

The protocol of Ericsson et al. (CVPR 2021) that Revisiting uses for VOC07 and its other linear
classification targets: the ResNet backbone of a pretraining checkpoint is frozen (eval mode, BN
statistics included), every image is resized (short side, bicubic) and centre-cropped to
``img-size`` without augmentation, and global-average-pooled C5 features are extracted. An
L2-regularised logistic regression (L-BFGS, sklearn's objective ``C * sum(log-loss) + |w|^2 / 2``,
intercept not penalised) is fitted on ``train`` for each of 45 log-spaced ``C`` in
[1e-5, 1e5]; the ``C`` with the best ``val`` score is refitted on ``train + val`` and scored on
``test``.

* ``voc07``: multi-label; one binary classifier per class (one-vs-rest), scored by the VOC07
  11-point mAP (``mAP``; the area-under-PR mAP is reported as ``mAP_area``). Labels come from
  ``ImageSets/Main/<class>_<split>.txt``; "difficult" entries (0) are left out of both fitting
  and scoring for that class. Classes without a label file are skipped with a warning (the
  synthetic demo devkit has 4 of the 20).
* ``imagelist``: single-label, multinomial logistic regression on mmpretrain-style ann files
  (``<relative path> <label>`` per line), scored by top-1 accuracy.

``--classifier svm`` (``voc07`` only) fits instead the linear SVMs of the VOC07 SVM benchmark of
Goyal et al. (ICCV 2019) that MoCo / DenseCL report and Revisiting lists beside the logistic
regression: L2-normalised features, per-class squared-hinge SVMs (positives weighted 2), the cost
per class chosen by 3-fold cross-validation on ``trainval`` over 26 costs (1e-7 .. 100 and
0.5^4 .. 0.5^19), refitted on ``trainval`` and scored on ``test`` (see
:mod:`densepre.evaluation.linear_svm`); benchmark name ``feature_probe_voc07_svm``.
``--protocol`` (SVM only):

* ``fair`` (default; the benchmark's ResNet-50 VOC07 config and scripts): ``trainval`` is the
  image list of the ``<class>_trainval.txt`` files sorted by image name; difficult images are
  negatives in training (never scored); folds as sklearn >= 0.22 numbers classes; features:
  short side to 256 then squashed to 224 x 224 (both bilinear, as its ``scale`` +
  ``global_resize``), res5 average-pooled with a 6 x 6 window at stride 1 (2 x 2 x 2048 =
  8192-d for ResNet-50, its ``res5_2_branch2c_bn_s1k6_resize`` blob);
* ``probe`` (densepre's earlier default): the logistic-regression probe's features (short-side
  resize + centre crop, global average pool, 2048-d), ``train + val`` concatenated, difficult
  images left out of training, sorted-class folds.

All classifiers of one ``C`` are fitted jointly (the objective is separable, so this is the same
optimum as fitting them one by one), in float64, warm-started from the previous ``C``. sklearn is
not needed. Metrics are printed (``RESULT mAP=...``) and written to OUT_DIR/metrics.json
(default ``work_dirs/benchmarks/feature_probe_<data>/<checkpoint tag>/``).
"""
import argparse
import json
import logging
import os
import os.path as osp
import re
import sys
import time
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from densepre.transfer.checkpoint import add_weights_arguments  # noqa: E402

VOC_CLASSES = ('aeroplane', 'bicycle', 'bird', 'boat', 'bottle', 'bus', 'car', 'cat', 'chair',
               'cow', 'diningtable', 'dog', 'horse', 'motorbike', 'person', 'pottedplant',
               'sheep', 'sofa', 'train', 'tvmonitor')
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
#: ResNet depth from the number of blocks per stage and the block type.
_DEPTHS = {((2, 2, 2, 2), False): 18, ((3, 4, 6, 3), False): 34, ((3, 4, 6, 3), True): 50,
           ((3, 4, 23, 3), True): 101, ((3, 8, 36, 3), True): 152}


def log(msg: str) -> None:
    print(f'[feature_probe] {msg}', flush=True)


# ----------------------------------------------------------------------------- backbone
def resnet_depth(state: Dict[str, torch.Tensor], prefix: str = 'backbone.') -> int:
    blocks = {}
    for key in state:
        m = re.match(re.escape(prefix) + r'layer([1-4])\.(\d+)\.', key)
        if m:
            blocks[int(m[1])] = max(blocks.get(int(m[1]), 0), int(m[2]) + 1)
    if sorted(blocks) != [1, 2, 3, 4]:
        raise ValueError('the checkpoint has no ResNet backbone ("backbone.layer1-4.*" keys); '
                         'the feature probe supports ResNet checkpoints only')
    counts = tuple(blocks[i] for i in (1, 2, 3, 4))
    bottleneck = f'{prefix}layer1.0.conv3.weight' in state
    if (counts, bottleneck) not in _DEPTHS:
        raise ValueError(f'unknown ResNet layout: blocks {counts}, bottleneck={bottleneck}')
    return _DEPTHS[(counts, bottleneck)]


def load_backbone(checkpoint: str, depth: Optional[int] = None, teacher: Optional[bool] = None,
                  ignore_keys: Sequence[str] = ()) -> torch.nn.Module:
    """The frozen ResNet of a densepre pretraining checkpoint, verified to load completely (in
    both directions; ``teacher`` / ``ignore_keys``: see :func:`extract_backbone` /
    :func:`verify_complete_loading`)."""
    from densepre.registry import MODELS
    from densepre.transfer.checkpoint import extract_backbone, verify_complete_loading
    from densepre.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    pretrained = extract_backbone(checkpoint, teacher=teacher, log=log)
    depth = depth or resnet_depth(pretrained)
    model = MODELS.build(dict(type='ResNet', depth=depth, out_indices=(3, )))
    model.load_state_dict({k[len('backbone.'):]: v for k, v in pretrained.items()}, strict=False)
    verify_complete_loading(model, pretrained, what=f'ResNet-{depth} backbone',
                            ignore_keys=ignore_keys)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    log(f'ResNet-{depth} backbone: every tensor loaded from {checkpoint}')
    return model


# ----------------------------------------------------------------------------- data
class ImageFiles(torch.utils.data.Dataset):
    """Images resized (short side, bicubic) + centre-cropped to ``size``, ImageNet-normalised."""

    def __init__(self, paths: Sequence[str], size: int):
        self.paths, self.size = list(paths), size

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        from PIL import Image
        with Image.open(self.paths[i]) as img:
            img = img.convert('RGB')
            w, h = img.size
            scale = self.size / min(w, h)
            nw, nh = max(self.size, round(w * scale)), max(self.size, round(h * scale))
            img = img.resize((nw, nh), Image.BICUBIC)
            left, top = (nw - self.size) // 2, (nh - self.size) // 2
            img = img.crop((left, top, left + self.size, top + self.size))
            x = torch.from_numpy(np.asarray(img, np.float32).copy()).permute(2, 0, 1) / 255.
        return (x - torch.tensor(MEAN)[:, None, None]) / torch.tensor(STD)[:, None, None]


class SquashedImageFiles(ImageFiles):
    """The fair benchmark's VOC07 input: short side to ``scale`` (cv2 bilinear, the long side
    ``floor``-ed), then resized to ``size x size`` ignoring the aspect ratio; ImageNet-normalised.
    """

    def __init__(self, paths: Sequence[str], size: int, scale: int = 256):
        super().__init__(paths, size)
        self.scale = scale

    def __getitem__(self, i):
        import cv2
        bgr = cv2.imread(self.paths[i], cv2.IMREAD_COLOR)
        if bgr is None:
            raise IOError(f'cannot read image {self.paths[i]}')
        img = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB).astype(np.float32)
        h, w = img.shape[:2]
        if min(h, w) != self.scale:
            nw, nh = (self.scale, int(h / w * self.scale)) if w < h else \
                (int(w / h * self.scale), self.scale)
            img = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_LINEAR)
        img = cv2.resize(img, (self.size, self.size), interpolation=cv2.INTER_LINEAR)
        x = torch.from_numpy(img).permute(2, 0, 1) / 255.
        return (x - torch.tensor(MEAN)[:, None, None]) / torch.tensor(STD)[:, None, None]


def pool_features(c5: torch.Tensor, pooling: str) -> torch.Tensor:
    """``gap``: global average (C); ``res5_6x6``: 6 x 6 average windows at stride 1, flattened
    (C x 2 x 2 for a 7 x 7 map)."""
    if pooling == 'gap':
        return c5.mean(dim=(2, 3))
    if pooling == 'res5_6x6':
        if min(c5.shape[-2:]) < 6:
            raise ValueError(f'res5 map {tuple(c5.shape[-2:])} is smaller than the 6 x 6 window')
        return F.avg_pool2d(c5, kernel_size=6, stride=1).flatten(1)
    raise ValueError(f'unknown pooling {pooling!r}')


@torch.no_grad()
def extract(model, paths, size, batch_size, workers, device, inputs: str = 'crop',
            pooling: str = 'gap') -> torch.Tensor:
    dataset = SquashedImageFiles(paths, size) if inputs == 'squash' else ImageFiles(paths, size)
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size,
                                         num_workers=workers, shuffle=False)
    feats = []
    for x in loader:
        c5 = model(x.to(device))[-1]
        feats.append(pool_features(c5, pooling).double().cpu())
    return torch.cat(feats)


def _read_lines(path: str) -> List[str]:
    if not osp.isfile(path):
        raise FileNotFoundError(f'not found: {path}')
    with open(path) as f:
        return [line.strip() for line in f if line.strip()]


def voc07_split(root: str, split: str, classes: Sequence[str]) -> Tuple[List[str], torch.Tensor]:
    """Image paths and a (N, K) label matrix in {1, 0 (difficult), -1} of a VOC07 split."""
    ids = _read_lines(osp.join(root, 'ImageSets', 'Main', f'{split}.txt'))
    index = {img_id: i for i, img_id in enumerate(ids)}
    labels = torch.full((len(ids), len(classes)), -1, dtype=torch.int8)
    for k, name in enumerate(classes):
        for line in _read_lines(osp.join(root, 'ImageSets', 'Main', f'{name}_{split}.txt')):
            img_id, value = line.split()
            labels[index[img_id], k] = int(value)
    return [osp.join(root, 'JPEGImages', f'{i}.jpg') for i in ids], labels


def voc07_fair_split(root: str, split: str,
                     classes: Sequence[str]) -> Tuple[List[str], torch.Tensor]:
    """The fair benchmark's VOC07 data files: the images of the ``<class>_<split>.txt`` files
    sorted by name (``split`` = trainval / test), labels in {1, 0 (difficult), -1}."""
    per_class = []
    for name in classes:
        lines = _read_lines(osp.join(root, 'ImageSets', 'Main', f'{name}_{split}.txt'))
        per_class.append(dict(line.split() for line in lines))
    ids = sorted(set().union(*per_class))
    labels = torch.full((len(ids), len(classes)), -1, dtype=torch.int8)
    for k, table in enumerate(per_class):
        labels[:, k] = torch.tensor([int(table.get(i, -1)) for i in ids], dtype=torch.int8)
    return [osp.join(root, 'JPEGImages', f'{i}.jpg') for i in ids], labels


def imagelist_split(root: str, ann: str, prefix: str) -> Tuple[List[str], torch.Tensor]:
    paths, labels = [], []
    for line in _read_lines(osp.join(root, ann)):
        rel, label = line.rsplit(maxsplit=1)
        paths.append(osp.join(root, prefix, rel))
        labels.append(int(label))
    return paths, torch.tensor(labels)


# ----------------------------------------------------------------------------- classifiers
def _standard_c_grid(num: int = 45, low: float = 1e-5, high: float = 1e5) -> List[float]:
    return np.logspace(np.log10(low), np.log10(high), num).tolist()


def fit_logreg(x: torch.Tensor, y: torch.Tensor, c: float, multinomial: bool,
               mask: Optional[torch.Tensor] = None, num_classes: Optional[int] = None,
               init: Optional[Tuple[torch.Tensor, torch.Tensor]] = None,
               max_iter: int = 100) -> Tuple[torch.Tensor, torch.Tensor]:
    """L-BFGS fit of ``C * sum(loss) + |W|^2 / 2`` (bias unpenalised), scaled by 1/(C n).

    Binary (``multinomial=False``): ``y`` (N, K) in {0, 1} and ``mask`` (N, K) of the entries
    that count, one classifier per column. Multinomial: ``y`` (N,) class indices.
    """
    n, d = x.shape
    k = num_classes if multinomial else y.shape[1]
    w = torch.zeros(d, k, dtype=torch.float64) if init is None else init[0].clone()
    b = torch.zeros(k, dtype=torch.float64) if init is None else init[1].clone()
    w.requires_grad_(True)
    b.requires_grad_(True)
    opt = torch.optim.LBFGS([w, b], lr=1, max_iter=max_iter, history_size=10,
                            tolerance_grad=1e-9, tolerance_change=1e-12,
                            line_search_fn='strong_wolfe')
    yf = None if multinomial else y.double()
    mf = None if multinomial else (torch.ones_like(yf) if mask is None else mask.double())

    def closure():
        opt.zero_grad()
        logits = x @ w + b
        if multinomial:
            loss = F.cross_entropy(logits, y, reduction='sum')
        else:
            loss = (F.binary_cross_entropy_with_logits(logits, yf, reduction='none') * mf).sum()
        obj = loss / n + (w * w).sum() / (2 * c * n)
        obj.backward()
        return obj

    opt.step(closure)
    return w.detach(), b.detach()


def voc07_ap(scores: np.ndarray, positive: np.ndarray) -> Tuple[float, float]:
    """(11-point VOC07 AP, area-under-PR AP) of one class; ``positive`` bool."""
    order = np.argsort(-scores, kind='stable')
    tp = positive[order].astype(np.float64)
    fp = 1 - tp
    tp, fp = np.cumsum(tp), np.cumsum(fp)
    recall = tp / max(positive.sum(), 1)
    precision = tp / np.maximum(tp + fp, 1e-12)
    ap11 = np.mean([precision[recall >= t].max() if (recall >= t).any() else 0.
                    for t in np.linspace(0, 1, 11)])
    hits = positive[order]
    area = precision[hits].sum() / max(positive.sum(), 1)
    return float(ap11), float(area)


def score_voc(x, labels, w, b) -> Dict[str, float]:
    scores = (x @ w + b).numpy()
    ap11, area = [], []
    for k in range(labels.shape[1]):
        keep = (labels[:, k] != 0).numpy()
        positive = (labels[:, k] == 1).numpy()[keep]
        if positive.sum() == 0:
            continue  # no positive test image: AP undefined
        a, r = voc07_ap(scores[keep, k], positive)
        ap11.append(a)
        area.append(r)
    return dict(mAP=100 * float(np.mean(ap11)), mAP_area=100 * float(np.mean(area)),
                num_scored_classes=len(ap11))


def score_acc(x, labels, w, b) -> Dict[str, float]:
    return dict(accuracy_top1=100 * float(((x @ w + b).argmax(1) == labels).double().mean()))


def select_and_test(splits, multinomial, c_grid, max_iter, num_classes=None):
    """Fit on train for every C, keep the best on val, refit on train+val, score test."""
    (x_tr, y_tr), (x_val, y_val), (x_te, y_te) = splits
    key = 'accuracy_top1' if multinomial else 'mAP'
    score = score_acc if multinomial else score_voc

    def targets(y):
        if multinomial:
            return dict(y=y, mask=None)
        return dict(y=(y == 1).to(torch.int8), mask=(y != 0))

    best, history, init = None, [], None
    for c in sorted(c_grid):
        init = fit_logreg(x_tr, c=c, multinomial=multinomial, num_classes=num_classes,
                          init=init, max_iter=max_iter, **targets(y_tr))
        val = score(x_val, y_val, *init)[key]
        history.append(dict(C=c, val=val))
        if best is None or val > best[1]:
            best = (c, val)
    x_trval, y_trval = torch.cat([x_tr, x_val]), torch.cat([y_tr, y_val])
    w, b = fit_logreg(x_trval, c=best[0], multinomial=multinomial, num_classes=num_classes,
                      max_iter=max_iter, **targets(y_trval))
    result = score(x_te, y_te, w, b)
    result.update(best_C=best[0], best_val=best[1])
    return result, history


# ----------------------------------------------------------------------------- main
def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('checkpoint', help='densepre pretraining checkpoint (ResNet backbone)')
    p.add_argument('--data', choices=['voc07', 'imagelist'], default='voc07')
    p.add_argument('--classifier', choices=['logreg', 'svm'], default='logreg',
                   help='svm: the VOC07 linear-SVM protocol (voc07 only)')
    p.add_argument('--data-root', help='voc07: the VOC2007 dir (default data/VOCdevkit/VOC2007)')
    p.add_argument('--protocol', choices=['fair', 'probe'], default='fair',
                   help='svm: fair (default; the fair self-supervision benchmark: sorted trainval, '
                   'difficult = negative in training, squashed 224 inputs, res5 6x6-pooled '
                   'features) or probe (the logistic-regression probe\'s data and features)')
    p.add_argument('--train-ann', default='meta/train.txt', help='imagelist: ann file')
    p.add_argument('--val-ann', default='meta/val.txt', help='imagelist: ann file')
    p.add_argument('--test-ann', default='meta/test.txt', help='imagelist: ann file')
    p.add_argument('--img-prefix', default='', help='imagelist: image dir below data-root')
    p.add_argument('--img-size', type=int, default=224)
    p.add_argument('--batch-size', type=int, default=64)
    p.add_argument('--workers', type=int, default=4)
    p.add_argument('--depth', type=int, help='ResNet depth (default: from the checkpoint)')
    p.add_argument('--num-c', type=int, default=45, help='number of C values (log-spaced)')
    p.add_argument('--c-range', type=float, nargs=2, default=(1e-5, 1e5))
    p.add_argument('--max-iter', type=int, default=100, help='L-BFGS iterations per fit '
                   '(sklearn default 100)')
    p.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    p.add_argument('--out-dir', help='default work_dirs/benchmarks/feature_probe_<data>/<ckpt>')
    add_weights_arguments(p)
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    logging.getLogger('mmengine').setLevel(logging.WARNING)
    from densepre.transfer.downstream import default_work_dir
    if args.data == 'voc07':
        root = args.data_root or 'data/VOCdevkit/VOC2007'
        if not osp.isdir(root):
            raise FileNotFoundError(f'VOC2007 devkit not found: {root} (--data-root)')
        main_dir = osp.join(root, 'ImageSets', 'Main')
        classes = [c for c in VOC_CLASSES if osp.isfile(osp.join(main_dir, f'{c}_trainval.txt'))]
        missing = sorted(set(VOC_CLASSES) - set(classes))
        if not classes:
            raise FileNotFoundError(f'no <class>_trainval.txt label files in {main_dir}')
        if missing:
            log(f'WARNING: no label files for {len(missing)} of the 20 VOC classes '
                f'({", ".join(missing[:5])}{" ..." if len(missing) > 5 else ""}): skipped')
        if args.classifier == 'svm' and args.protocol == 'fair':
            data = [voc07_fair_split(root, s, classes) for s in ('trainval', 'test')]
        else:
            data = [voc07_split(root, s, classes) for s in ('train', 'val', 'test')]
        num_classes = None
    else:
        if not args.data_root or not osp.isdir(args.data_root):
            raise FileNotFoundError(f'--data-root not found: {args.data_root}')
        data = [imagelist_split(args.data_root, a, args.img_prefix)
                for a in (args.train_ann, args.val_ann, args.test_ann)]
        num_classes = int(max(int(d[1].max()) for d in data)) + 1
    if args.classifier == 'svm' and args.data != 'voc07':
        raise ValueError('--classifier svm is the VOC07 protocol: use it with --data voc07')
    benchmark = f'feature_probe_{args.data}' + ('_svm' if args.classifier == 'svm' else '')
    out_dir = args.out_dir or default_work_dir(benchmark, args.checkpoint)

    model = load_backbone(args.checkpoint, args.depth, args.teacher,
                          args.ignore_keys).to(args.device)
    fair = args.classifier == 'svm' and args.protocol == 'fair'
    if fair:
        log('SVM protocol fair: trainval sorted by name, difficult = negative in training, '
            'inputs squashed to 224 x 224, res5 6 x 6 average-pooled features')
    t0 = time.time()
    feats = [extract(model, paths, args.img_size, args.batch_size, args.workers, args.device,
                     'squash' if fair else 'crop', 'res5_6x6' if fair else 'gap')
             for paths, _ in data]
    log(f'features {tuple(feats[0].shape[1:])} of {sum(len(f) for f in feats)} images in '
        f'{time.time() - t0:.1f}s')
    if args.classifier == 'svm':
        return run_svm(args, benchmark, out_dir, feats, data)
    t0 = time.time()
    grid = _standard_c_grid(args.num_c, *args.c_range)
    result, history = select_and_test([(f, d[1]) for f, d in zip(feats, data)],
                                      args.data == 'imagelist', grid, args.max_iter, num_classes)
    log(f'{len(grid)} values of C fitted in {time.time() - t0:.1f}s; best C={result["best_C"]:.3g}')
    out = dict(benchmark=f'feature_probe_{args.data}', checkpoint=osp.abspath(args.checkpoint),
               img_size=args.img_size, metrics=result, c_search=history)
    os.makedirs(out_dir, exist_ok=True)
    tmp = osp.join(out_dir, 'metrics.json.part')
    with open(tmp, 'w') as f:
        json.dump(out, f, indent=2)
    os.replace(tmp, osp.join(out_dir, 'metrics.json'))
    main_key = 'accuracy_top1' if args.data == 'imagelist' else 'mAP'
    extra = '' if args.data == 'imagelist' else f' mAP_area={result["mAP_area"]:.2f}'
    print(f'RESULT {main_key}={result[main_key]:.2f}{extra} (C={result["best_C"]:.3g}; '
          f'{osp.join(out_dir, "metrics.json")})')
    return out


def run_svm(args, benchmark, out_dir, feats, data):
    """VOC07 SVM protocol: cross-validated cost on trainval (= train + val), scored on test."""
    from densepre.evaluation.linear_svm import svm_protocol
    t0 = time.time()
    if args.protocol == 'fair':  # [trainval, test]
        trainval, y_trainval, test, y_test = feats[0], data[0][1], feats[1], data[1][1]
    else:  # [train, val, test]: train + val
        trainval, y_trainval = torch.cat(feats[:2]), torch.cat([data[0][1], data[1][1]])
        test, y_test = feats[2], data[2][1]
    result, search = svm_protocol(trainval, y_trainval, test, y_test, protocol=args.protocol)
    log(f'SVMs: 26 costs x 3 folds + refit in {time.time() - t0:.1f}s')
    out = dict(benchmark=benchmark, checkpoint=osp.abspath(args.checkpoint),
               img_size=args.img_size, protocol=args.protocol, feature_dim=trainval.shape[1],
               metrics=result, cost_search=search)
    os.makedirs(out_dir, exist_ok=True)
    tmp = osp.join(out_dir, 'metrics.json.part')
    with open(tmp, 'w') as f:
        json.dump(out, f, indent=2)
    os.replace(tmp, osp.join(out_dir, 'metrics.json'))
    print(f'RESULT mAP={result["mAP"]:.2f} (linear SVM, protocol {args.protocol}; '
          f'{osp.join(out_dir, "metrics.json")})')
    return out


if __name__ == '__main__':
    main()
