"""Step time of densepre's CLoVE ``-release`` config against the authors' released code
(github.com/sthalles/CLoVE), on the same views, interleaved in one process (CPU, fp32).

The released code is imported from a checkout given with ``--release-dir`` (e.g. extracted from
the fetched mirror with ``git archive HEAD contrast | tar -x -C /tmp/clove_release``); nothing of
it is copied into densepre. Both sides run one optimizer step per timed step (no gradient
accumulation: the release's ``grad_accumulation_steps=1`` path, densepre's ``ema_interval=1``,
``accumulative_counts=1``) on identical input tensors (2 global 224 px + 6 local 96 px views,
already normalised: the data preprocessor is not timed on either side) and the same crops
(densepre geometry and the release's ``(x_ul, y_ul, x_lr, y_lr)`` boxes of the same crops),
BatchNorm instead of SyncBN on both:

* densepre: ``model.loss`` (online maps, EMA update, target maps, matching, loss) + parse,
  ``optim_wrapper.backward``, ``optim_wrapper.step`` + ``zero_grad`` (the config's optimizer);
* release: ``CLoVE(images, m)`` (EMA update + both networks) + ``TripletLoss``, ``backward``,
  its ``LARS`` wrapper's ``step`` + ``zero_grad``.

Phases are timed separately (forward + loss, backward, optimizer step); rounds alternate which
side runs first; medians are reported with the densepre / release ratio.

    OMP_NUM_THREADS=1 python tools/analysis_tools/benchmark_clove_vs_release.py \\
        --release-dir /tmp/clove_release --batch 2 --rounds 5
"""
import argparse
import os.path as osp
import statistics
import sys
import time
from types import SimpleNamespace

import numpy as np
import torch

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
import benchmark_train_step as bts  # noqa: E402

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
RELEASE_CFG = osp.join(REPO, 'configs/clove/clove_r50_4xb256-accum2-lars-release_200e.py')
PHASES = ('forward', 'backward', 'step')


def clock() -> np.ndarray:
    """(wall, process CPU) seconds: on a shared machine the CPU time is the steadier one."""
    return np.array([time.perf_counter(), time.process_time()])


def make_views(batch: int, image_hw, rng: np.random.Generator, num_local: int = 6):
    """Normalised random views and, per view, crops of an ``image_hw`` image: densepre geometries
    (B, V, 10) and the release's boxes (list of V (B, 4) tensors)."""
    img_h, img_w = image_hw
    specs = [(224, (0.2, 1.))] * 2 + [(96, (0.08, 0.3))] * num_local
    images, geoms, boxes = [], [], []
    for out, (lo, hi) in specs:
        images.append(torch.randn(batch, 3, out, out))
        g, b = [], []
        for _ in range(batch):
            frac = np.sqrt(rng.uniform(lo, hi))
            h, w = int(round(img_h * frac)), int(round(img_w * frac))
            i, j = int(rng.integers(0, img_h - h + 1)), int(rng.integers(0, img_w - w + 1))
            flip = int(rng.integers(0, 2))
            g.append([j, i, j + w, i + h, flip, out, out, 0, img_h, img_w])
            box = [j / (img_w - 1), i / (img_h - 1), (j + w - 1) / (img_w - 1),
                   (i + h - 1) / (img_h - 1)]
            if flip:
                box[0], box[2] = box[2], box[0]
            b.append(box)
        geoms.append(g)
        boxes.append(torch.tensor(b, dtype=torch.float32))
    return images, np.asarray(geoms, dtype=np.float32).transpose(1, 0, 2), boxes


def densepre_side(args, images, geoms):
    from mmpretrain.structures import DataSample
    cfg = bts.load_config(args.config, {
        'model.backbone.norm_cfg.type': 'BN', 'model.neck.norm_cfg.type': 'BN',
        'model.ema_interval': 1, 'optim_wrapper.accumulative_counts': 1})
    model = bts.build_model(cfg)
    optim_wrapper = bts.build_optim(model, cfg, 'fp32')
    groups = ['global'] * 2 + ['local'] * (len(images) - 2)
    samples = []
    for g in geoms:
        ds = DataSample()
        ds.set_field(g, 'view_geometry', field_type='metainfo')
        ds.set_field(groups, 'view_groups', field_type='metainfo')
        samples.append(ds)

    def step(times):
        t0 = clock()
        loss, _ = model.parse_losses(model.loss(images, samples))
        t1 = clock()
        optim_wrapper.backward(loss)
        t2 = clock()
        optim_wrapper.step()
        optim_wrapper.zero_grad()
        t3 = clock()
        times.append(np.concatenate([t1 - t0, t2 - t1, t3 - t2]))
        return loss.detach()

    return step, cfg


def release_side(args, images, boxes, cfg):
    sys.path.insert(0, args.release_dir)
    from contrast import resnet
    from contrast.lars import LARS, add_weight_decay
    from contrast.loss import TripletLoss
    from contrast.models.CLoVE import CLoVE
    opt = SimpleNamespace(feature_dim=256, head_type='early_return', clove_attn_heads=8)
    model = CLoVE(resnet.resnet50, opt).train()
    lr = cfg.optim_wrapper.optimizer.lr
    optimizer = LARS(torch.optim.SGD(add_weight_decay(model, cfg.optim_wrapper.optimizer.
                                                      weight_decay), lr=lr, momentum=0.9))
    loss_fn = TripletLoss(cfg.model.loss.lambda_pos, cfg.model.pos_threshold)

    def step(times):
        t0 = clock()
        for group in optimizer.param_groups:
            group['lr'] = lr
        gl, lo, k, _, _ = model(images, 0.99)
        loss = loss_fn(gl.float(), lo.float(), k.float(), boxes)
        t1 = clock()
        loss.backward()
        t2 = clock()
        optimizer.step()
        optimizer.zero_grad()
        t3 = clock()
        times.append(np.concatenate([t1 - t0, t2 - t1, t3 - t2]))
        return loss.detach()

    return step


def check_release_dir(release_dir):
    if not osp.isfile(osp.join(release_dir, 'contrast', 'models', 'CLoVE.py')):
        raise FileNotFoundError(f'--release-dir {release_dir}: no contrast/models/CLoVE.py '
                                '(a checkout of github.com/sthalles/CLoVE is expected)')


def make_steps(release_dir, batch, config=RELEASE_CFG):
    """One optimizer step of each side on the same views and crops: ``{'densepre': f,
    'release': f}``, ``f(i)`` returns the loss tensor (not read: no host sync of its own)."""
    check_release_dir(release_dir)
    from densepre.utils import register_all_modules
    register_all_modules()
    torch.manual_seed(0)
    bts.quiet_logger()
    bts.prepare_message_hub()
    args = SimpleNamespace(release_dir=release_dir, config=config, batch=batch)
    images, geoms, boxes = make_views(batch, (375, 500), np.random.default_rng(0))
    ours, cfg = densepre_side(args, images, geoms)
    theirs = release_side(args, images, boxes, cfg)
    return {'densepre': lambda i: ours([]), 'release': lambda i: theirs([])}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--release-dir', required=True,
                        help='checkout of sthalles/CLoVE (the directory holding contrast/)')
    parser.add_argument('--config', default=RELEASE_CFG)
    parser.add_argument('--batch', type=int, default=2)
    parser.add_argument('--rounds', type=int, default=5)
    parser.add_argument('--warmup', type=int, default=1)
    parser.add_argument('--threads', type=int, default=1)
    args = parser.parse_args(argv)
    check_release_dir(args.release_dir)
    from densepre.utils import register_all_modules
    register_all_modules()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    bts.quiet_logger()
    bts.prepare_message_hub()
    images, geoms, boxes = make_views(args.batch, (375, 500), np.random.default_rng(0))
    ours, cfg = densepre_side(args, images, geoms)
    theirs = release_side(args, images, boxes, cfg)
    times = {'densepre': [], 'release': []}
    for r in range(args.warmup + args.rounds):
        order = [('densepre', ours), ('release', theirs)]
        for name, step in (order if r % 2 == 0 else order[::-1]):
            target = times[name] if r >= args.warmup else []
            step(target)
    result = {}
    print(f'CLoVE step, batch {args.batch}, 2 x 224 + 6 x 96 px, fp32, {args.threads} thread(s), '
          f'{args.rounds} interleaved rounds (medians, s):')
    for c, clock_name in enumerate(('wall', 'cpu')):
        print(f'{clock_name:10s}' + ''.join(f'{p:>10s}' for p in (*PHASES, 'total')))
        for name, rows in times.items():
            rows = [row[c::2] for row in rows]  # this clock's phases
            med = [statistics.median(col) for col in zip(*rows)]
            med.append(statistics.median(sum(row) for row in rows))
            result[name, clock_name] = dict(zip((*PHASES, 'total'), med))
            print(f'{name:10s}' + ''.join(f'{v:10.3f}' for v in med))
        ratio = {k: result['densepre', clock_name][k] / result['release', clock_name][k]
                 for k in result['densepre', clock_name]}
        result['ratio', clock_name] = ratio
        print(f'{"ratio":10s}' + ''.join(f'{ratio[k]:10.3f}' for k in (*PHASES, 'total')))
    return result


if __name__ == '__main__':
    main()
