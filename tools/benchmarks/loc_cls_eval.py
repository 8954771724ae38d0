"""Localisation-only / classification-only evaluation of semantic segmentation (LOCA Tables 3, 7
and 9, appendix B.2).

    # localisation only ("Loc.", mIoU with a class oracle) and the plain mIoU ("Both") of a
    # fine-tuned segmentation model, on its config's test split
    python tools/benchmarks/loc_cls_eval.py loc SEG_CONFIG SEG_CHECKPOINT [--out-dir DIR]
    # classification only ("Classif.", mAP): the segmentation labels as multi-label image labels,
    # a linear layer + BCE on average-pooled features of a pretraining checkpoint's backbone
    # (frozen, Tables 3 / 7; --finetune: end to end, Table 9); train split -> test split
    python tools/benchmarks/loc_cls_eval.py cls SEG_CONFIG CHECKPOINT [--student|--teacher]
        [--finetune] [--epochs 20] [--lr 1e-3] [--img-size S] [--batch-size 16] [--out-dir DIR]

Both take the data, model and normalisation from SEG_CONFIG (any mmseg benchmark config, e.g.
``configs/benchmarks/mmsegmentation/ade20k/segmenter-linear_vit-b16_8xb2-160k_ade20k-512x512.py``)
and ``--cfg-options`` (e.g. data roots). See :mod:`densepre.evaluation.loc_cls` for the oracle.

* ``loc``: SEG_CHECKPOINT is a fine-tuned model (``tools/benchmarks/finetune.py``'s work dir);
  every tensor of the model must load from it. The test pipeline and inference mode (sliding
  window) are the config's.
* ``cls``: CHECKPOINT is a pretraining checkpoint (or ``none``: random init); its backbone is
  injected into the config's backbone and verified to load completely, as in
  ``finetune.py``. Images are resized to ``--img-size`` (default: the config's crop size),
  labels are the classes present in the full-resolution annotation (ignore index excluded).
  Features: the backbone's last output averaged over positions. AdamW, cosine lr, BCE. With
  ``--finetune`` the backbone trains too (random horizontal flips). mAP over the classes with a
  positive test image.

Prints ``RESULT ...`` and writes OUT_DIR/metrics.json.
"""
import argparse
import json
import math
import os
import os.path as osp
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.config import Config, DictAction

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from densepre.transfer.checkpoint import add_weights_arguments  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    sub = parser.add_subparsers(dest='mode', required=True)
    loc = sub.add_parser('loc', help='mIoU with a class oracle, and without')
    loc.add_argument('config')
    loc.add_argument('checkpoint', help='fine-tuned segmentation checkpoint')
    cls = sub.add_parser('cls', help='multi-label classification mAP')
    cls.add_argument('config')
    cls.add_argument('checkpoint', help='pretraining checkpoint, or "none" (random init)')
    add_weights_arguments(cls)
    cls.add_argument('--finetune', action='store_true', help='train the backbone too (Table 9)')
    cls.add_argument('--epochs', type=int, default=20)
    cls.add_argument('--lr', type=float, default=1e-3)
    cls.add_argument('--weight-decay', type=float, default=0.)
    cls.add_argument('--img-size', type=int, help="default: the config's crop size")
    cls.add_argument('--batch-size', type=int, default=16)
    cls.add_argument('--seed', type=int, default=0)
    for p in (loc, cls):
        p.add_argument('--out-dir', help='default: work_dirs/benchmarks/loc_cls_<mode>/<ckpt>')
        p.add_argument('--workers', type=int, default=0)
        p.add_argument('--trust-checkpoint', action='store_true',
                       help='fully unpickle a checkpoint that is not weights-only')
        p.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args(argv)


def load_config(path: str, options) -> Config:
    from densepre.transfer.downstream import register_scope
    if not osp.isfile(path):
        raise FileNotFoundError(f'config file not found: {path}')
    cfg = Config.fromfile(path)
    if options:
        cfg.merge_from_dict(options)
    register_scope(cfg.get('default_scope'))
    return cfg


def build(cfg: Config, what: str, section):
    from mmengine.registry import DATASETS, MODELS, DefaultScope
    registry = dict(model=MODELS, dataset=DATASETS)[what]
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        return registry.build(section)


def num_classes_and_ignore(cfg: Config):
    head = cfg.model.decode_head
    evaluator = cfg.get('test_evaluator') or {}
    ignore = evaluator.get('ignore_index', head.get('ignore_index', 255))
    return int(head.num_classes), int(ignore)


def loader(cfg: Config, dataset_cfg: dict, batch_size: int, workers: int, shuffle=False):
    from mmengine.dataset import pseudo_collate
    dataset = build(cfg, 'dataset', dataset_cfg)
    return torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=shuffle,
                                       num_workers=workers, collate_fn=pseudo_collate)


# ---------------------------------------------------------------- localisation only
def evaluate_loc(args) -> dict:
    from mmengine.evaluator import Evaluator
    from mmengine.registry import DefaultScope
    from mmengine.structures import PixelData

    from densepre.evaluation.loc_cls import oracle_relabel
    from densepre.transfer.checkpoint import load_state_dict
    cfg = load_config(args.config, args.cfg_options)
    num_classes, ignore = num_classes_and_ignore(cfg)
    model = build(cfg, 'model', cfg.model)
    state = load_state_dict(args.checkpoint, trust=args.trust_checkpoint)
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing:
        raise KeyError(f'{args.checkpoint}: {len(missing)} tensors of the {args.config} model '
                       f'are not in the checkpoint (e.g. {missing[:4]}): not a fine-tuned model '
                       'of this config')
    model.eval()
    data = loader(cfg, cfg.test_dataloader.dataset, cfg.test_dataloader.get('batch_size', 1),
                  args.workers)
    evaluators = {}
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        for name in ('both', 'loc'):
            evaluators[name] = Evaluator(
                dict(type='IoUMetric', iou_metrics=['mIoU'], ignore_index=ignore))
            evaluators[name].dataset_meta = data.dataset.metainfo
    with torch.no_grad():
        for batch in data:
            outputs = model.test_step(batch)
            evaluators['both'].process(outputs, batch)
            relabelled = []
            for sample in outputs:
                oracle = sample.clone()
                pred, gt = sample.pred_sem_seg.data[0], sample.gt_sem_seg.data[0]
                oracle.pred_sem_seg = PixelData(
                    data=oracle_relabel(pred, gt, num_classes, ignore)[None])
                relabelled.append(oracle)
            evaluators['loc'].process(relabelled, batch)
    size = len(data.dataset)
    both, loc = evaluators['both'].evaluate(size), evaluators['loc'].evaluate(size)
    return {'both_mIoU': float(both['mIoU']), 'loc_mIoU': float(loc['mIoU'])}


# ---------------------------------------------------------------- classification only
def set_pipeline(dataset_cfg: dict, pipeline: list) -> dict:
    """``dataset_cfg`` with ``pipeline`` on every leaf dataset (wrappers: ``datasets`` /
    ``dataset``)."""
    dataset_cfg = dict(dataset_cfg)
    if 'datasets' in dataset_cfg:
        dataset_cfg['datasets'] = [set_pipeline(d, pipeline) for d in dataset_cfg['datasets']]
    elif 'dataset' in dataset_cfg:
        dataset_cfg['dataset'] = set_pipeline(dataset_cfg['dataset'], pipeline)
    else:
        dataset_cfg['pipeline'] = pipeline
    return dataset_cfg


def annotation_loader(cfg: Config) -> dict:
    """The config's own ``LoadAnnotations`` step (``reduce_zero_label`` for ADE20k, ...)."""
    for step in cfg.test_dataloader.dataset.get('pipeline', []):
        if step['type'] in ('LoadAnnotations', 'mmseg.LoadAnnotations'):
            return dict(step)
    return dict(type='LoadAnnotations')


class Images:
    """Normalised (B, 3, S, S) images and (B, K) multi-hot labels from a pseudo-collated batch:
    the config's mean / std / channel order, bilinear (anti-aliased) resize to S."""

    def __init__(self, preprocessor, size: int, num_classes: int, ignore: int):
        self.mean = preprocessor.mean.view(1, 3, 1, 1).float()
        self.std = preprocessor.std.view(1, 3, 1, 1).float()
        self.rgb = bool(getattr(preprocessor, '_channel_conversion', False))
        self.size, self.num_classes, self.ignore = size, num_classes, ignore

    def __call__(self, batch):
        from densepre.evaluation.loc_cls import multilabel_targets
        images = []
        for img in batch['inputs']:
            img = img.float()[None]
            if self.rgb:
                img = img.flip(1)
            images.append(F.interpolate(img, size=(self.size, self.size), mode='bilinear',
                                        align_corners=False, antialias=True))
        x = (torch.cat(images) - self.mean) / self.std
        y = torch.stack([multilabel_targets(s.gt_sem_seg.data[0], self.num_classes, self.ignore)
                         for s in batch['data_samples']])
        return x, y


def pooled(backbone, x: torch.Tensor) -> torch.Tensor:
    out = backbone(x)
    feat = out[-1] if isinstance(out, (tuple, list)) else out
    if feat.dim() == 4:
        return feat.mean((2, 3))
    if feat.dim() == 3:
        return feat.mean(1)
    raise ValueError(f'unexpected backbone output of shape {tuple(feat.shape)}')


def build_backbone(args, cfg: Config):
    """The config's segmentation model with CHECKPOINT's backbone injected and verified (as
    ``finetune.py`` does); returns (backbone, data preprocessor, loading report)."""
    import shutil
    import tempfile

    from densepre.transfer import extract_backbone
    from densepre.transfer.downstream import inject_pretrained, verify
    staging = tempfile.mkdtemp(prefix='densepre-loc-cls-')
    try:
        if args.checkpoint == 'none':
            inject_pretrained(cfg, None)
            report = ['no pretraining checkpoint: random init']
        else:
            weights = osp.join(staging, 'backbone.pth')
            report = []
            pretrained = extract_backbone(args.checkpoint, weights, trust=args.trust_checkpoint,
                                          teacher=args.teacher, log=report.append)
            inject_pretrained(cfg, weights)
            report += [f'complete loading verified: {line}'
                       for line in verify(cfg, pretrained, args.ignore_keys)]
        model = build(cfg, 'model', cfg.model)
        model.init_weights()
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return model.backbone, model.data_preprocessor, report


def evaluate_cls(args) -> dict:
    from densepre.evaluation.loc_cls import mean_average_precision
    cfg = load_config(args.config, args.cfg_options)
    num_classes, ignore = num_classes_and_ignore(cfg)
    torch.manual_seed(args.seed)
    backbone, preprocessor, report = build_backbone(args, cfg)
    for line in report:
        print(f'[loc_cls_eval] {line}', flush=True)
    size = args.img_size or int(cfg.model.data_preprocessor.size[0])
    pipeline = [dict(type='LoadImageFromFile'), annotation_loader(cfg),
                dict(type='PackSegInputs')]
    to_tensors = Images(preprocessor, size, num_classes, ignore)
    train = loader(cfg, set_pipeline(cfg.train_dataloader.dataset, pipeline), args.batch_size,
                   args.workers, shuffle=True)
    test = loader(cfg, set_pipeline(cfg.test_dataloader.dataset, pipeline), args.batch_size,
                  args.workers)
    backbone.eval()  # (mmpretrain's ViT.train() returns None: no chaining)
    with torch.no_grad():
        dims = pooled(backbone, to_tensors(next(iter(test)))[0][:1]).shape[1]
    classifier = nn.Linear(dims, num_classes)
    params = list(classifier.parameters())
    if args.finetune:
        params += list(backbone.parameters())
    else:
        backbone.requires_grad_(False)
    optimizer = torch.optim.AdamW(params, lr=args.lr, weight_decay=args.weight_decay)
    steps = args.epochs * len(train)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda i: 0.5 * (1 + math.cos(math.pi * min(i, steps) / max(steps, 1))))

    def features(data, train_mode):
        backbone.train(train_mode)
        for x, y in (to_tensors(b) for b in data):
            if train_mode:
                flip = torch.rand(x.shape[0]) < 0.5
                x = torch.where(flip[:, None, None, None], x.flip(-1), x)
            yield x, y

    cached = None
    if not args.finetune:  # frozen: one pass over the train split, then the linear layer only
        with torch.no_grad():
            cached = [(pooled(backbone, x), y) for x, y in features(train, False)]
    for _ in range(args.epochs):
        batches = cached if cached is not None else features(train, True)
        if cached is not None:
            batches = [cached[i] for i in torch.randperm(len(cached)).tolist()]
        for x, y in batches:
            feat = x if cached is not None else pooled(backbone, x)
            loss = F.binary_cross_entropy_with_logits(classifier(feat), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
    scores, targets = [], []
    with torch.no_grad():
        for x, y in features(test, False):
            scores.append(classifier(pooled(backbone, x)))
            targets.append(y)
    scores, targets = torch.cat(scores), torch.cat(targets)
    return {'mAP': mean_average_precision(scores.sigmoid(), targets),
            'final_train_loss': float(loss.detach()), 'test_images': int(targets.shape[0])}


def main(argv=None):
    args = parse_args(argv)
    metrics = evaluate_loc(args) if args.mode == 'loc' else evaluate_cls(args)
    tag = 'none' if args.checkpoint == 'none' else osp.splitext(osp.basename(args.checkpoint))[0]
    out_dir = args.out_dir or osp.join('work_dirs', 'benchmarks', f'loc_cls_{args.mode}', tag)
    os.makedirs(out_dir, exist_ok=True)
    result = dict(mode=args.mode, config=osp.abspath(args.config),
                  checkpoint=args.checkpoint, metrics=metrics,
                  options={k: v for k, v in vars(args).items()
                           if k not in ('config', 'checkpoint', 'cfg_options', 'mode')})
    with open(osp.join(out_dir, 'metrics.json'), 'w') as f:
        json.dump(result, f, indent=2)
    print('RESULT ' + ' '.join(f'{k}={v:.2f}' if isinstance(v, float) else f'{k}={v}'
                               for k, v in metrics.items()), flush=True)
    return result


if __name__ == '__main__':
    main()
