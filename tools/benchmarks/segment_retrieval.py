"""Semantic segment retrieval on frozen features (Revisiting-Contrastive Table 6, appendix A.7).

    python tools/benchmarks/segment_retrieval.py CKPT [--data-root data/VOCdevkit/VOC2012]
        [--train-split aug --train-labels SegmentationClassAug] [--val-split val]
        [--img-size 512] [--k 15] [--seed 0] [--vote majority|maskcontrast]
        [--student|--teacher] [--device cpu|cuda] [--out-dir DIR]

Images are resized to 512x512 (bilinear) and ImageNet-normalised; the frozen backbone gives
stride-8 features (ResNet: layer3/4 with stride 1 and dilation 2/4, i.e. a 64x64 map; ViT: patch
tokens). Per image, K-means (K=15, L2-normalised features, seeded, batched in torch) splits the
map into segments; a segment's descriptor is its mean feature; train segments get the majority
ground-truth label of their pixels (segment map resized to the image, nearest); each val segment
takes the label of its cosine-nearest train segment (1-NN); val predictions at the image's own
resolution are scored by mIoU over the 21 VOC classes (255 ignored): ``mIoU``, Table 6's "21
classes". ``mIoU_7cls`` is its "7 classes" column (MaskContrast's retrieval config): the other 13
classes are void in the train and val ground truth (a second bank from the same segments) and the
mean is over aeroplane, bottle, bus, car, cat, cow, person (background excluded). ``--vote
maskcontrast`` labels train segments as MaskContrast's code, which Revisiting ran for Table 6. See
:mod:`densepre.evaluation.segment_retrieval` and docs/frozen_segment_retrieval.md.

The paper trains on train_aug (10582 images, mmseg's ``ImageSets/Segmentation/aug.txt`` +
``SegmentationClassAug``) and evaluates on val (``SegmentationClass``). Writes OUT_DIR/metrics.json
(summarize.py format) and OUT_DIR/retrieval.png (val images: image, K-means segments, retrieved
labels, ground truth).
"""
import argparse
import json
import logging
import os
import os.path as osp
import sys
import time

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from densepre.transfer.checkpoint import add_weights_arguments  # noqa: E402

BENCHMARK = 'voc12_segment_retrieval'
MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)
NUM_CLASSES = 21


def log(msg: str) -> None:
    print(f'[segment_retrieval] {msg}', flush=True)


def split_files(root, split, label_dir):
    list_file = osp.join(root, 'ImageSets', 'Segmentation', f'{split}.txt')
    if not osp.isfile(list_file):
        raise FileNotFoundError(f'split list not found: {list_file}')
    with open(list_file) as f:
        ids = [line.split()[0] for line in f if line.strip()]
    imgs = [osp.join(root, 'JPEGImages', f'{i}.jpg') for i in ids]
    labels = [osp.join(root, label_dir, f'{i}.png') for i in ids]
    for p in imgs[:1] + labels[:1] + imgs[-1:] + labels[-1:]:
        if not osp.isfile(p):
            raise FileNotFoundError(f'{split}: not found: {p}')
    return imgs, labels


def read_rgb(path):
    bgr = cv2.imread(path, cv2.IMREAD_COLOR)
    if bgr is None:
        raise IOError(f'cannot read image {path}')
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def read_label(path):
    with Image.open(path) as img:
        return np.array(img)


@torch.no_grad()
def segment_images(backbone, paths, size, k, iters, seed, batch, device, l2=True):
    """Features, K-means segments and region descriptors of ``paths`` (batched)."""
    from densepre.evaluation.segment_retrieval import kmeans, region_descriptors
    out = []
    for i in range(0, len(paths), batch):
        imgs = [cv2.resize(read_rgb(p), (size, size), interpolation=cv2.INTER_LINEAR)
                for p in paths[i:i + batch]]
        x = torch.from_numpy((np.stack(imgs).astype(np.float32) / 255. - MEAN) / STD)
        feats = backbone(x.permute(0, 3, 1, 2).to(device)).float()
        bsz, c, h, w = feats.shape
        flat = feats.flatten(2).transpose(1, 2)  # B, N, C
        if l2:
            flat = F.normalize(flat, dim=-1)
        # initial centres drawn per image (seed, image index): independent of the batch size
        init = torch.stack([torch.randperm(h * w, generator=torch.Generator().manual_seed(
            seed * 1_000_003 + i + j))[:k] for j in range(bsz)]).to(flat.device)
        assign, _ = kmeans(flat, k, iters=iters, init=init)
        desc = region_descriptors(flat, assign, k)
        for j in range(bsz):
            out.append((assign[j].view(h, w).cpu().numpy(), desc[j].cpu(),
                        torch.bincount(assign[j], minlength=k).cpu()))
    return out


def colour_segments(seg, k):
    rng = np.random.default_rng(0)
    return rng.integers(0, 255, (k, 3), dtype=np.uint8)[seg]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('checkpoint', help='densepre pretraining checkpoint (ResNet or ViT backbone)')
    p.add_argument('--data-root', default='data/VOCdevkit/VOC2012')
    p.add_argument('--train-split', default='aug')
    p.add_argument('--train-labels', default='SegmentationClassAug')
    p.add_argument('--val-split', default='val')
    p.add_argument('--val-labels', default='SegmentationClass')
    p.add_argument('--img-size', type=int, default=512)
    p.add_argument('--k', type=int, default=15, help='K-means clusters per image')
    p.add_argument('--kmeans-iters', type=int, default=50)
    p.add_argument('--no-l2', action='store_true', help='cluster raw (not L2-normalised) features')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--resnet-strides', type=int, nargs=4, default=(1, 2, 1, 1))
    p.add_argument('--resnet-dilations', type=int, nargs=4, default=(1, 1, 2, 4))
    p.add_argument('--out-stage', type=int, default=4)
    p.add_argument('--num-heads', type=int, help='ViT heads (default: checkpoint config)')
    p.add_argument('--batch-size', type=int, default=8)
    p.add_argument('--num-vis', type=int, default=6, help='val images in retrieval.png')
    p.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    p.add_argument('--vote', choices=('majority', 'maskcontrast'), default='majority',
                   help='train-segment label: majority (default; background counted, void '
                   "ignored) or maskcontrast (MaskContrast's: background and void ignored, "
                   "segments without other pixels dropped) -- Table 6's numbers need maskcontrast")
    add_weights_arguments(p)
    p.add_argument('--out-dir')
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    logging.getLogger('mmengine').setLevel(logging.WARNING)
    from densepre.evaluation import load_frozen_backbone
    from densepre.evaluation.segment_retrieval import (SEVEN_CLASSES, confusion, keep_classes,
                                                       majority_labels, mean_iou, mean_iou_of,
                                                       nearest_labels, upsample_segments)
    from densepre.transfer.downstream import default_work_dir
    train_imgs, train_lbls = split_files(args.data_root, args.train_split, args.train_labels)
    val_imgs, val_lbls = split_files(args.data_root, args.val_split, args.val_labels)
    backbone = load_frozen_backbone(args.checkpoint, args.resnet_strides, args.resnet_dilations,
                                    args.out_stage, args.num_heads, log=log, teacher=args.teacher,
                                    ignore_keys=args.ignore_keys).to(args.device)
    log(f'train-segment vote: {args.vote}')
    out_dir = args.out_dir or default_work_dir(BENCHMARK, args.checkpoint)
    t0 = time.time()
    seg_args = (args.img_size, args.k, args.kmeans_iters, args.seed, args.batch_size,
                args.device, not args.no_l2)
    train = segment_images(backbone, train_imgs, *seg_args)
    banks = {'21': ([], []), '7': ([], [])}  # Table 6's two columns
    for (seg, desc, counts), lbl_path in zip(train, train_lbls):
        gt = read_label(lbl_path)
        full_seg = upsample_segments(seg, gt.shape)
        for column, target in (('21', gt), ('7', keep_classes(gt, SEVEN_CLASSES))):
            labels = majority_labels(full_seg, target, args.k, NUM_CLASSES, vote=args.vote)
            keep = torch.from_numpy(labels >= 0) & (counts > 0)
            banks[column][0].append(desc[keep])
            banks[column][1].append(torch.from_numpy(labels)[keep])
    banks = {c: (torch.cat(d), torch.cat(lbl)) for c, (d, lbl) in banks.items()}
    bank, bank_labels = banks['21']
    log(f'{len(bank)} labelled train segments from {len(train_imgs)} images '
        f'({time.time() - t0:.1f}s)')
    val = segment_images(backbone, val_imgs, *seg_args)
    conf = np.zeros((NUM_CLASSES, NUM_CLASSES), np.int64)
    conf7 = np.zeros_like(conf)
    vis = []
    for n, ((seg, desc, counts), img_path, lbl_path) in enumerate(zip(val, val_imgs, val_lbls)):
        gt = read_label(lbl_path)
        seg_labels = nearest_labels(desc, bank, bank_labels).numpy()
        full_seg = upsample_segments(seg, gt.shape)
        pred = seg_labels[full_seg]
        conf += confusion(pred, gt, NUM_CLASSES)
        pred7 = nearest_labels(desc, *banks['7']).numpy()[full_seg]
        conf7 += confusion(pred7, keep_classes(gt, SEVEN_CLASSES), NUM_CLASSES)
        if n < args.num_vis:
            from densepre.demo import voc_palette
            pal = voc_palette()
            img = read_rgb(img_path)
            vis.append(np.concatenate([img, colour_segments(full_seg, args.k), pal[pred],
                                       pal[gt]], axis=1))
    miou, iou = mean_iou(conf)
    miou7 = mean_iou_of(conf7, SEVEN_CLASSES)
    out = dict(benchmark=BENCHMARK, checkpoint=osp.abspath(args.checkpoint),
               backbone=backbone.description, feature_stride=backbone.stride,
               settings=dict(img_size=args.img_size, k=args.k, seed=args.seed,
                             l2=not args.no_l2, train_split=args.train_split,
                             val_split=args.val_split, vote=args.vote),
               metrics=dict(mIoU=miou, mIoU_7cls=miou7),
               per_class_IoU=[None if np.isnan(v) else 100 * float(v) for v in iou],
               num_train_segments=len(bank))
    os.makedirs(out_dir, exist_ok=True)
    if vis:
        width = max(v.shape[1] for v in vis)
        rows = [np.pad(v, ((0, 4), (0, width - v.shape[1]), (0, 0))) for v in vis]
        Image.fromarray(np.concatenate(rows)).save(osp.join(out_dir, 'retrieval.png'))
    tmp = osp.join(out_dir, 'metrics.json.part')
    with open(tmp, 'w') as f:
        json.dump(out, f, indent=2)
    os.replace(tmp, osp.join(out_dir, 'metrics.json'))
    print(f'RESULT mIoU={miou:.2f} mIoU_7cls={miou7:.2f} (vote {args.vote}; {len(val_imgs)} val '
          f'images, {len(bank)} train segments; {osp.join(out_dir, "metrics.json")})')
    return out


if __name__ == '__main__':
    main()
