"""DAVIS-2017 video object segmentation by label propagation on frozen features (J&F).

    python tools/benchmarks/davis_propagation.py CKPT [--data-root data/DAVIS] [--split val]
        [--topk 10] [--temperature 0.05] [--context 20] [--radius 12]
        [--features c4|c5] [--void propagate|refuse] [--student|--teacher]
        [--num-heads N] [--device cpu|cuda] [--out-dir DIR]

The protocol of Jabri et al. (NeurIPS 2020; github.com/ajabri/videowalk ``code/test.py``) that
Revisiting-Contrastive uses for its Table 5 (see docs/frozen_davis.md and
:mod:`densepre.evaluation.label_propagation`): frames at their native 480p size, ImageNet
normalisation, frozen backbone features at stride 8 (ResNet: ``--features c4``, the default, is
videowalk's: layer3 with stride 1 and no dilation, layer4 removed -- ``--remove-layers layer4``
and ``ResNet.modify``; ``c5``: layer4's output with layer3/4 dilated 2/4; ViT: patch tokens),
the first frame's one-hot masks bilinearly resized to the feature grid -- void (255) pixels are
one more label, as videowalk's label set is every colour of the first annotation (``--void
refuse`` stops instead) -- labels
propagated frame by frame from the first frame and the 20 previous frames (top-10 neighbours within
radius 12 cells, temperature 0.05), bilinearly upsampled to the frame and arg-maxed. J, F and J&F
as the official davis2017-evaluation computes them (:mod:`densepre.evaluation.davis_metrics`).

Reads the standard layout ``JPEGImages/480p/<seq>/*.jpg``, ``Annotations/480p/<seq>/*.png``
(palette PNGs), ``ImageSets/2017/<split>.txt``. Writes OUT_DIR/masks/<seq>/<frame>.png (palette
PNGs, the official results layout), OUT_DIR/overlays/<seq>.png (frames with the propagated masks)
and OUT_DIR/metrics.json (default ``work_dirs/benchmarks/davis2017_propagation/<checkpoint tag>``),
which tools/benchmarks/summarize.py reads.
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

from densepre.evaluation import label_propagation as lp  # noqa: E402
from densepre.transfer.checkpoint import add_weights_arguments  # noqa: E402

BENCHMARK = 'davis2017_propagation'
VOID = 255
#: ResNet layouts: (strides, dilations, output stage). c4 = videowalk's ``ResNet.modify`` (layer3 /
#: layer4 strides set to 1, no dilation) with ``--remove-layers layer4``.
FEATURES = {'c4': ((1, 2, 1), (1, 1, 1), 3), 'c5': ((1, 2, 1, 1), (1, 1, 2, 4), 4)}
MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)


def log(msg: str) -> None:
    print(f'[davis] {msg}', flush=True)


def read_lines(path: str):
    if not osp.isfile(path):
        raise FileNotFoundError(f'sequence list not found: {path}')
    with open(path) as f:
        return [line.strip() for line in f if line.strip()]


def sequence_files(root: str, resolution: str, seq: str):
    img_dir = osp.join(root, 'JPEGImages', resolution, seq)
    ann_dir = osp.join(root, 'Annotations', resolution, seq)
    if not osp.isdir(img_dir):
        raise FileNotFoundError(f'{seq}: frame dir not found: {img_dir}')
    frames = sorted(f for f in os.listdir(img_dir) if f.endswith('.jpg'))
    anns = [osp.join(ann_dir, osp.splitext(f)[0] + '.png') for f in frames]
    if not frames:
        raise FileNotFoundError(f'{seq}: no .jpg frames in {img_dir}')
    missing = [p for p in anns if not osp.isfile(p)]
    if missing:
        raise FileNotFoundError(f'{seq}: {len(missing)} of {len(anns)} annotations missing, e.g. '
                                f'{missing[0]} (every frame of the split is scored)')
    return [osp.join(img_dir, f) for f in frames], anns


def read_mask(path: str) -> np.ndarray:
    with Image.open(path) as img:
        if img.mode not in ('P', 'L'):
            raise ValueError(f'{path}: expected a palette (P) or grayscale PNG of object ids, '
                             f'got mode {img.mode}')
        return np.array(img)


def read_frames(paths):
    frames = []
    for p in paths:
        bgr = cv2.imread(p, cv2.IMREAD_COLOR)
        if bgr is None:
            raise IOError(f'cannot read image {p}')
        frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    return np.stack(frames)


@torch.no_grad()
def frame_features(backbone, frames: np.ndarray, batch: int, device: str) -> torch.Tensor:
    x = torch.from_numpy(((frames.astype(np.float32) / 255. - MEAN) / STD)).permute(0, 3, 1, 2)
    return torch.cat([backbone(x[i:i + batch].to(device)) for i in range(0, len(x), batch)])


def resnet_layout(args):
    """``(strides, dilations, out_stage)`` of ``--features`` with the explicit overrides."""
    strides, dilations, out_stage = FEATURES[args.features]
    out_stage = args.out_stage or out_stage
    strides = tuple(args.resnet_strides or strides)
    dilations = tuple(args.resnet_dilations or dilations)
    if not 1 <= out_stage <= 4 or len(strides) < out_stage or len(dilations) < out_stage:
        raise ValueError(f'--out-stage {out_stage} needs strides and dilations for stages '
                         f'1..{out_stage}, got {strides} / {dilations}')
    return strides[:out_stage], dilations[:out_stage], out_stage


def first_frame_labels(mask: np.ndarray, grid, void: str = 'propagate'):
    """Label ids of the first frame and their one-hot maps resized (bilinear) to ``grid``.

    ``void='propagate'``: void (255) is one more label (videowalk's label set is every colour of
    the first annotation), so a pixel can be predicted void; ``'ignore'``: void pixels belong to
    no label (their one-hot rows are zero)."""
    ids = np.unique(mask) if void == 'propagate' else np.unique(mask[mask != VOID])
    ids = np.union1d([0], ids).astype(np.int64)
    onehot = (mask[..., None] == ids).astype(np.float32)
    small = cv2.resize(onehot, (grid[1], grid[0]), interpolation=cv2.INTER_LINEAR)
    small = small.reshape(grid[0], grid[1], len(ids))
    return ids, torch.from_numpy(small).permute(2, 0, 1)


def labels_to_masks(soft: torch.Tensor, ids: np.ndarray, size) -> np.ndarray:
    """``(T, K, h, w)`` soft labels -> ``(T, H, W)`` object ids (bilinear, arg-max), frame by
    frame (a whole 480p video of soft maps would not fit in memory)."""
    return np.stack([ids[F.interpolate(s[None], size=size, mode='bilinear', align_corners=False)
                         [0].argmax(0).cpu().numpy()].astype(np.uint8) for s in soft])


def save_palette_png(path: str, ids: np.ndarray, palette) -> None:
    img = Image.fromarray(ids, mode='P')
    img.putpalette(palette)
    img.save(path)


def overlay_grid(frames, masks, palette, num: int = 6) -> np.ndarray:
    pal = np.array(palette[:768], np.float32).reshape(-1, 3)
    pick = np.unique(np.linspace(0, len(frames) - 1, min(num, len(frames))).round().astype(int))
    tiles = []
    for t in pick:
        colour = pal[masks[t]]
        alpha = (masks[t] > 0)[..., None] * 0.5
        tiles.append((frames[t] * (1 - alpha) + colour * alpha).astype(np.uint8))
    return np.concatenate(tiles, axis=1)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('checkpoint', help='densepre pretraining checkpoint (ResNet or ViT backbone)')
    p.add_argument('--data-root', default='data/DAVIS')
    p.add_argument('--split', default='val', help='ImageSets/2017/<split>.txt')
    p.add_argument('--resolution', default='480p')
    p.add_argument('--topk', type=int, default=lp.TOPK)
    p.add_argument('--temperature', type=float, default=lp.TEMPERATURE)
    p.add_argument('--context', type=int, default=lp.CONTEXT, help='previous frames used')
    p.add_argument('--radius', type=float, default=lp.RADIUS, help='in feature cells')
    p.add_argument('--features', choices=sorted(FEATURES), default='c4',
                   help="ResNet features: c4 (default; videowalk's: layer3 at stride 8, layer4 "
                   'removed) or c5 (layer4, layer3/4 dilated 2/4, stride 8)')
    p.add_argument('--resnet-strides', type=int, nargs='+',
                   help='per-stage strides (overrides --features)')
    p.add_argument('--resnet-dilations', type=int, nargs='+',
                   help='per-stage dilations (overrides --features)')
    p.add_argument('--out-stage', type=int, help='ResNet stage of the features (overrides '
                   '--features; the stages after it are removed)')
    p.add_argument('--void', choices=('propagate', 'refuse'), default='propagate',
                   help='void (255) pixels in a first frame: propagate them as one more label '
                   "(default, videowalk's) or stop with an error")
    add_weights_arguments(p)
    p.add_argument('--num-heads', type=int, help='ViT heads (default: checkpoint config)')
    p.add_argument('--batch-size', type=int, default=8, help='frames per backbone pass')
    p.add_argument('--tile', type=int, default=16, help='query block (grid cells) whose radius '
                   'window is multiplied at once; 0: the dense masked affinity (same result)')
    p.add_argument('--max-frames', type=int, help='only the first N frames of each sequence '
                   '(speed measurements; the scores are then not the benchmark numbers)')
    p.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    p.add_argument('--out-dir')
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    logging.getLogger('mmengine').setLevel(logging.WARNING)
    from densepre.evaluation import DavisJF, load_frozen_backbone
    from densepre.transfer.downstream import default_work_dir
    seqs = read_lines(osp.join(args.data_root, 'ImageSets', '2017', f'{args.split}.txt'))
    files = {s: sequence_files(args.data_root, args.resolution, s) for s in seqs}
    strides, dilations, out_stage = resnet_layout(args)
    log(f'ResNet features (a ViT gives its patch tokens): stage {out_stage}, strides {strides}, '
        f'dilations {dilations} (--features {args.features}); void pixels of the first frame: '
        f'{args.void}')
    backbone = load_frozen_backbone(args.checkpoint, strides, dilations, out_stage,
                                    args.num_heads, log=log, teacher=args.teacher,
                                    ignore_keys=args.ignore_keys).to(args.device)
    out_dir = args.out_dir or default_work_dir(BENCHMARK, args.checkpoint)
    metric = DavisJF()
    timing = dict(frames=0, feature_s=0., propagation_s=0.)
    for seq, (frame_paths, ann_paths) in files.items():
        if args.max_frames:
            frame_paths, ann_paths = frame_paths[:args.max_frames], ann_paths[:args.max_frames]
        frames = read_frames(frame_paths)
        first = read_mask(ann_paths[0])
        if first.shape != frames.shape[1:3]:
            raise ValueError(f'{ann_paths[0]}: mask {first.shape} vs frame {frames.shape[1:3]}')
        if args.void == 'refuse' and (first == VOID).any():
            raise ValueError(f'{ann_paths[0]}: {int((first == VOID).sum())} void (255) pixels in '
                             'the first frame; --void propagate carries them as one more label '
                             "(videowalk's protocol)")
        with Image.open(ann_paths[0]) as img:
            palette = img.getpalette() or _voc_palette()
        t0 = time.perf_counter()
        feats = frame_features(backbone, frames, args.batch_size, args.device)
        t1 = time.perf_counter()
        ids, first_soft = first_frame_labels(first, feats.shape[-2:], args.void)
        soft = lp.propagate_labels(feats, first_soft.to(feats.device), args.topk,
                                   args.temperature, args.context, args.radius, args.tile or None)
        t2 = time.perf_counter()
        timing['frames'] += len(frames)
        timing['feature_s'] += t1 - t0
        timing['propagation_s'] += t2 - t1
        masks = labels_to_masks(soft, ids, frames.shape[1:3])
        mask_dir = osp.join(out_dir, 'masks', seq)
        os.makedirs(mask_dir, exist_ok=True)
        for path, m in zip(ann_paths, masks):
            save_palette_png(osp.join(mask_dir, osp.basename(path)), m, palette)
        os.makedirs(osp.join(out_dir, 'overlays'), exist_ok=True)
        Image.fromarray(overlay_grid(frames, masks, palette)).save(
            osp.join(out_dir, 'overlays', f'{seq}.png'))
        gt = np.stack([read_mask(p) for p in ann_paths])
        metric.process(None, [dict(sequence=seq, gt_masks=gt, pred_masks=masks)])
        log(f'{seq}: {len(frames)} frames, {len(ids) - 1} objects, '
            f'{len(frames) / (t2 - t0):.2f} frames/s')
    objects = list(metric.results)
    result = metric.compute_metrics(objects)
    total = timing['feature_s'] + timing['propagation_s']
    fps = timing['frames'] / total
    out = dict(benchmark=BENCHMARK, checkpoint=osp.abspath(args.checkpoint),
               backbone=backbone.description, feature_stride=backbone.stride,
               settings=dict(features=args.features, void=args.void, topk=args.topk,
                             temperature=args.temperature, context=args.context,
                             radius=args.radius, split=args.split, resolution=args.resolution,
                             max_frames=args.max_frames),
               metrics=result, frames_per_second=fps, timing=timing,
               per_object={o['object']: dict(J=100 * o['J']['M'], F=100 * o['F']['M'])
                           for o in objects})
    tmp = osp.join(out_dir, 'metrics.json.part')
    with open(tmp, 'w') as f:
        json.dump(out, f, indent=2)
    os.replace(tmp, osp.join(out_dir, 'metrics.json'))
    print(f'RESULT J&F-Mean={result["J&F-Mean"]:.2f} J-Mean={result["J-Mean"]:.2f} '
          f'F-Mean={result["F-Mean"]:.2f} ({len(objects)} objects, {fps:.2f} frames/s on '
          f'{args.device}; {osp.join(out_dir, "metrics.json")})')
    return out


def _voc_palette():
    from densepre.demo import voc_palette
    return voc_palette().ravel().tolist()


if __name__ == '__main__':
    main()
