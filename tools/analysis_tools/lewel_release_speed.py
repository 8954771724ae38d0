"""Step time of densepre's release-equivalent LEWEL_B against the authors' released code, on CPU.

The release is NOT part of densepre: check it out anywhere (e.g. ``/tmp/LEWEL``) and pass
``--release-dir``; its ``models``, ``backbone`` and ``utils`` packages are imported from there.
Both sides train the same ResNet-50 LEWEL_B (d 256, h 4, hidden 4096) on the same random views,
fp32 (the release's ``--amp`` is CUDA autocast), steps interleaved A, B, A, B in one process so
that machine noise hits both alike:

* densepre: ``configs/lewel/lewel_b_r50_16xb64-release_200e.py``, one ``model.train_step`` as the
  Runner runs it (data preprocessor on the uint8 views, loss, backward, ``FusedLARS``, EMA);
* release: its ``main.py`` iteration — ``LEWELB_EMAN(im_v1, im_v2)``, ``zero_grad``,
  ``backward``, ``utils/LARS.py`` step (parameter groups as its ``collect_params``),
  ``momentum_update`` — on the same views, normalised beforehand (its data loader's job).

Usage::

    python tools/analysis_tools/lewel_release_speed.py --release-dir /tmp/LEWEL \\
        --batch 4 --size 96 --iters 6 --warmup 1
"""
import argparse
import os.path as osp
import statistics
import sys
import time

import numpy as np
import torch

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(REPO, 'configs/lewel/lewel_b_r50_16xb64-release_200e.py')
MEAN = torch.tensor([123.675, 116.28, 103.53]).view(1, 3, 1, 1)
STD = torch.tensor([58.395, 57.12, 57.375]).view(1, 3, 1, 1)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--release-dir', required=True,
                        help='a checkout of the authors\' LEWEL code (models/, backbone/, utils/)')
    parser.add_argument('--batch', type=int, default=4)
    parser.add_argument('--size', type=int, default=96, help='view side in pixels')
    parser.add_argument('--iters', type=int, default=6, help='timed steps per side')
    parser.add_argument('--warmup', type=int, default=1, help='untimed steps per side first')
    parser.add_argument('--threads', type=int, default=1)
    return parser.parse_args(argv)


def build_densepre():
    sys.path.insert(0, osp.join(REPO, 'tools', 'analysis_tools'))
    import benchmark_train_step as bts
    from mmengine.config import Config

    from densepre.utils import register_all_modules
    register_all_modules()
    bts.quiet_logger()
    cfg = Config.fromfile(CONFIG)
    model = bts.build_model(cfg)
    return cfg, model, bts.build_optim(model, cfg, 'fp32'), bts


def check_release_dir(release_dir):
    for name in ('models', 'backbone', 'utils'):
        if not osp.isfile(osp.join(release_dir, name, '__init__.py')):
            raise FileNotFoundError(f'--release-dir {release_dir}: no {name}/ package (expected '
                                    'a checkout of the authors\' LEWEL repository)')


def build_release(release_dir, cfg):
    """The released LEWELB_EMAN with the -release config's hyper-parameters."""
    sys.path.insert(0, release_dir)
    import backbone as release_backbones
    from models import get_lewel_model
    from utils import LARS
    m = cfg.model
    model = get_lewel_model('LEWELB_EMAN')(
        release_backbones.resnet50_encoder, dim=m.neck.out_channels, m=1 - m.base_momentum,
        hid_dim=m.neck.hid_channels, norm_layer=None, num_neck_mlp=2, scale=m.temperature,
        l2_norm=True, num_heads=m.num_groups, loss_weight=1 - m.beta)
    # main.py collect_params(exclude_bias_and_bn=True, sync_bn=True): names with 'bn',
    # 'downsample.1', 'bias' or 'mlp.1' -> wd 0, no LARS adaptation
    special, weights = [], []
    for name, p in model.named_parameters():
        is_special = any(k in name for k in ('bn', 'downsample.1', 'bias', 'mlp.1'))
        (special if is_special else weights).append(p)
    opt = cfg.optim_wrapper.optimizer
    optimizer = LARS([dict(params=special, weight_decay=0., lars_exclude=True),
                      dict(params=weights)], lr=opt.lr, momentum=opt.momentum,
                     weight_decay=opt.weight_decay)
    model.train()
    model.target_net.eval()  # EMAN
    return model, optimizer


def make_steps(release_dir, batch, size, threads=1):
    """One training step of each side on the same two views: ``{'densepre': f, 'release': f}``,
    ``f(i)`` runs step ``i`` and returns the loss tensor (not read: no host sync of its own)."""
    check_release_dir(release_dir)
    torch.set_num_threads(threads)
    cfg, dp_model, dp_optim, bts = build_densepre()
    bts.prepare_message_hub(1000)
    torch.manual_seed(0)
    rel_model, rel_optim = build_release(osp.abspath(release_dir), cfg)
    rng = np.random.default_rng(0)
    size = (size, size)
    batches = [bts.random_batch([size, size], batch, bts.packs_geometry(cfg), rng)
               for _ in range(2)]
    rel_inputs = [[(v.float() - MEAN) / STD for v in b['inputs']] for b in batches]

    def densepre_step(i):
        bts.set_iter(i)
        return dp_model.train_step(batches[i % 2], dp_optim)['loss'].detach()

    def release_step(i):
        v1, v2 = rel_inputs[i % 2]
        loss = rel_model(im_v1=v1, im_v2=v2)
        rel_optim.zero_grad()
        loss.backward()
        rel_optim.step()
        rel_model.momentum_update(float(i), 1000.)
        return loss.detach()

    return {'densepre': densepre_step, 'release': release_step}


def main(argv=None):
    args = parse_args(argv)
    steps = make_steps(args.release_dir, args.batch, args.size, args.threads)
    densepre_step, release_step = steps['densepre'], steps['release']

    times = {'densepre': [], 'release': []}
    cpu = {'densepre': [], 'release': []}
    for i in range(args.warmup + args.iters):
        for name, step in (('densepre', densepre_step), ('release', release_step)):
            t0, c0 = time.perf_counter(), time.process_time()
            step(i)
            if i >= args.warmup:
                times[name].append(time.perf_counter() - t0)
                cpu[name].append(time.process_time() - c0)
    med = {k: statistics.median(v) for k, v in times.items()}
    cmed = {k: statistics.median(v) for k, v in cpu.items()}
    print(f'LEWEL_B ResNet-50, batch {args.batch}, 2 views of {args.size} px, fp32, '
          f'{args.threads} thread(s), {args.iters} timed steps each (after {args.warmup})')
    print('| side | wall median ms | CPU median ms |')
    print('|---|---|---|')
    for k in ('densepre', 'release'):
        print(f'| {k} | {med[k] * 1e3:.0f} | {cmed[k] * 1e3:.0f} |')
    print(f'| ratio densepre / release | {med["densepre"] / med["release"]:.3f} | '
          f'{cmed["densepre"] / cmed["release"]:.3f} |')


if __name__ == '__main__':
    main()
