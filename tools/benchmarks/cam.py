"""Class activation maps of a linear classifier on frozen features, as a PNG grid (Revisiting
Fig. 6 / S2).

    # the classifier of a linear-probe run (tools/benchmarks/linear_cls.sh; mmpretrain
    # ImageClassifier with a LinearClsHead on the frozen backbone of CKPT)
    python tools/benchmarks/cam.py CKPT --classifier LINEAR_CKPT --data-root data/imagenet \
        --ann meta/val.txt --img-prefix val [--num 16] [--img-size 224] [--out-dir DIR]
    # or fit a multinomial logistic regression on the frozen pooled features first
    python tools/benchmarks/cam.py CKPT --fit-ann meta/train.txt --data-root ... [--C 1.0]

The backbone of CKPT (ResNet or ViT, any densepre checkpoint) is loaded with the transfer suite's
complete-loading verification and kept at its pretraining strides (the classifier sees what it
was trained on: global-average-pooled last-stage features). For ``--classifier`` the probe's
backbone must equal CKPT's tensor for tensor (a frozen probe of this checkpoint), else the tool
stops. CAM of the predicted class: ``M_c = sum_k w_ck f_k(x, y)`` (Zhou et al. 2016), upsampled
(bilinear), min-max normalised and overlaid (jet). Images: resized (short side) and centre-cropped
to ``--img-size``, as the feature probe does. Writes OUT_DIR/cam_grid.png and OUT_DIR/cams.json
(image, true and predicted class per tile).
"""
import argparse
import json
import logging
import os
import os.path as osp
import sys

import cv2
import numpy as np
import torch

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
sys.path.insert(0, osp.dirname(osp.abspath(__file__)))

from feature_probe import ImageFiles, fit_logreg, imagelist_split  # noqa: E402

MEAN = torch.tensor([0.485, 0.456, 0.406])[:, None, None]
STD = torch.tensor([0.229, 0.224, 0.225])[:, None, None]


def log(msg: str) -> None:
    print(f'[cam] {msg}', flush=True)


def classifier_from_checkpoint(path: str, backbone_state: dict):
    """``(weight (K, C), bias (K,), class names)`` of an mmpretrain LinearClsHead checkpoint whose
    backbone equals ``backbone_state``."""
    from densepre.transfer.checkpoint import load_checkpoint
    state, meta = load_checkpoint(path)  # read once, weights-only
    if 'head.fc.weight' not in state:
        raise KeyError(f'{path} has no "head.fc.weight": expected an mmpretrain ImageClassifier '
                       'with a LinearClsHead (tools/benchmarks/linear_cls.sh output)')
    differ = [k for k, v in backbone_state.items()
              if k not in state or tuple(state[k].shape) != tuple(v.shape)
              or not torch.equal(state[k].float(), v.float())]
    if differ:
        raise ValueError(f'{path}: {len(differ)} backbone tensors differ from the pretraining '
                         f'checkpoint (e.g. {differ[:3]}): the classifier was not trained on '
                         'this frozen backbone')
    names = list((meta.get('dataset_meta') or {}).get('classes') or []) or None
    return state['head.fc.weight'].float(), state['head.fc.bias'].float(), names


@torch.no_grad()
def features(backbone, paths, size, batch):
    loader = torch.utils.data.DataLoader(ImageFiles(paths, size), batch_size=batch)
    return torch.cat([backbone(x) for x in loader])


def draw_label(tile: np.ndarray, text: str) -> np.ndarray:
    tile = tile.copy()
    scale = max(tile.shape[1] / 400, 0.3)
    cv2.putText(tile, text, (2, int(14 * scale) + 2), cv2.FONT_HERSHEY_SIMPLEX, scale,
                (255, 255, 255), 1, cv2.LINE_AA)
    return tile


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('checkpoint', help='densepre pretraining checkpoint (ResNet or ViT backbone)')
    p.add_argument('--classifier', help='linear-probe checkpoint (head.fc.*) of CKPT')
    p.add_argument('--fit-ann', help='ann file (<path> <label>) to fit a classifier on instead')
    p.add_argument('--C', type=float, default=1.0, help='--fit-ann: inverse L2 strength')
    p.add_argument('--data-root', required=True)
    p.add_argument('--ann', help='ann file of the images to show (default: --fit-ann)')
    p.add_argument('--img-prefix', default='', help='image dir below data-root')
    p.add_argument('--num', type=int, default=16, help='images in the grid')
    p.add_argument('--cols', type=int, default=4)
    p.add_argument('--img-size', type=int, default=224)
    p.add_argument('--batch-size', type=int, default=32)
    p.add_argument('--num-heads', type=int, help='ViT heads (default: checkpoint config)')
    p.add_argument('--out-dir')
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    logging.getLogger('mmengine').setLevel(logging.WARNING)
    from densepre.evaluation import load_frozen_backbone
    from densepre.evaluation.cam import class_activation_maps, normalise_maps, overlay
    from densepre.transfer.checkpoint import extract_backbone
    from densepre.transfer.downstream import default_work_dir
    if bool(args.classifier) == bool(args.fit_ann):
        raise ValueError('give exactly one of --classifier LINEAR_CKPT or --fit-ann ANN')
    ann = args.ann or args.fit_ann
    if not ann:
        raise ValueError('--ann is required with --classifier')
    backbone = load_frozen_backbone(args.checkpoint, strides=(1, 2, 2, 2), dilations=(1, 1, 1, 1),
                                    num_heads=args.num_heads, log=log)
    out_dir = args.out_dir or default_work_dir('cam', args.checkpoint)
    names = None
    if args.classifier:
        weight, bias, names = classifier_from_checkpoint(args.classifier,
                                                         extract_backbone(args.checkpoint))
        source = osp.abspath(args.classifier)
    else:
        paths, labels = imagelist_split(args.data_root, args.fit_ann, args.img_prefix)
        pooled = features(backbone, paths, args.img_size, args.batch_size).mean((2, 3)).double()
        w, b = fit_logreg(pooled, labels, args.C, multinomial=True,
                          num_classes=int(labels.max()) + 1)
        weight, bias = w.T.float(), b.float()
        acc = float(((pooled @ w + b).argmax(1) == labels).double().mean())
        log(f'logistic regression (C={args.C}) on {len(paths)} images: train accuracy '
            f'{100 * acc:.1f}%')
        source = f'logistic regression on {osp.abspath(osp.join(args.data_root, args.fit_ann))}'
    paths, labels = imagelist_split(args.data_root, ann, args.img_prefix)
    paths, labels = paths[:args.num], labels[:args.num]
    feats = features(backbone, paths, args.img_size, args.batch_size)
    scores = feats.mean((2, 3)) @ weight.T + bias
    pred = scores.argmax(1)
    cams = normalise_maps(class_activation_maps(feats, weight, pred), (args.img_size, ) * 2)
    dataset = ImageFiles(paths, args.img_size)
    tiles, records = [], []
    for i in range(len(paths)):
        img = ((dataset[i] * STD + MEAN).clamp(0, 1) * 255).permute(1, 2, 0).byte().numpy()
        name = (lambda k: names[k] if names and k < len(names) else str(k))
        text = f'pred {name(int(pred[i]))} / gt {name(int(labels[i]))}'
        tiles.append(np.concatenate([img, draw_label(overlay(img, cams[i].numpy()), text)], 1))
        records.append(dict(image=paths[i], label=int(labels[i]), predicted=int(pred[i])))
    cols = max(1, min(args.cols, len(tiles)))
    blank = np.zeros_like(tiles[0])
    tiles += [blank] * (-len(tiles) % cols)
    grid = np.concatenate([np.concatenate(tiles[r:r + cols], 1)
                           for r in range(0, len(tiles), cols)])
    os.makedirs(out_dir, exist_ok=True)
    cv2.imwrite(osp.join(out_dir, 'cam_grid.png'), grid[..., ::-1])
    with open(osp.join(out_dir, 'cams.json'), 'w') as f:
        json.dump(dict(checkpoint=osp.abspath(args.checkpoint), classifier=source,
                       backbone=backbone.description, tiles=records), f, indent=2)
    print(f'RESULT {len(records)} CAMs -> {osp.join(out_dir, "cam_grid.png")}')
    return dict(grid=osp.join(out_dir, 'cam_grid.png'), records=records, cams=cams)


if __name__ == '__main__':
    main()
