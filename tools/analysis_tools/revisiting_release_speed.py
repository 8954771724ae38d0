"""Step time of densepre's release-equivalent kNN-MoCo against the authors' released code, on CPU.

The release is NOT part of densepre: check it out anywhere (e.g. ``/tmp/Revisiting-Contrastive-SSL``)
and pass ``--release-dir``; its ``builder/builder_ours_warmup.py`` is imported from there. Both
sides train the same ResNet-50 kNN-MoCo (128-d MLP head, K 65536, k 20, λ 0.4, τ 0.2, m 0.995)
on the same random views (one 160-px query, one 160-px key, four 96-px small crops), fp32, the
nn loss on, steps interleaved in one process so that machine noise hits both alike:

* densepre: ``configs/revisiting/knn-mocov2-mc-cc-m0995-aplus_r50_8xb32-coco-release_200e.py``,
  one ``model.train_step`` as the Runner runs it (data preprocessor on the uint8 views, loss,
  backward, SGD); its backbone side-queue is filled with random unit vectors first, as the
  release initialises its own, so both search all K entries;
* release: its ``main_ours_warmup.py`` iteration — ``MoCo(im_q, im_k, im_q_small)``,
  ``CrossEntropyLoss`` + 0.4 · aux, ``zero_grad``, ``backward``, ``torch.optim.SGD`` step — on the
  same views, normalised beforehand (its data loader's job). It needs a process group (gloo,
  one process) and calls ``.cuda()``, which this tool makes a no-op during its steps only.

Usage::

    python tools/analysis_tools/revisiting_release_speed.py \\
        --release-dir /tmp/Revisiting-Contrastive-SSL --batch 4 --iters 4 --warmup 1
"""
import argparse
import contextlib
import os
import os.path as osp
import statistics
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(
    REPO, 'configs/revisiting/knn-mocov2-mc-cc-m0995-aplus_r50_8xb32-coco-release_200e.py')
SIZES = ((160, 160), (160, 160)) + ((96, 96), ) * 4
GROUPS = ('query', 'key', 'local', 'local', 'local', 'local')
MEAN = torch.tensor([123.675, 116.28, 103.53]).view(1, 3, 1, 1)
STD = torch.tensor([58.395, 57.12, 57.375]).view(1, 3, 1, 1)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--release-dir', required=True,
                        help="a checkout of the authors' Revisiting-Contrastive-SSL code")
    parser.add_argument('--batch', type=int, default=4)
    parser.add_argument('--iters', type=int, default=4, help='timed steps per side')
    parser.add_argument('--warmup', type=int, default=1, help='untimed steps per side first')
    parser.add_argument('--threads', type=int, default=1)
    return parser.parse_args(argv)


def check_release_dir(release_dir):
    if not osp.isfile(osp.join(release_dir, 'builder', 'builder_ours_warmup.py')):
        raise FileNotFoundError(f'--release-dir {release_dir}: no builder/builder_ours_warmup.py '
                                "(expected a checkout of the authors' Revisiting-Contrastive-SSL "
                                'repository)')


@contextlib.contextmanager
def cuda_calls_are_noops():
    """The release moves tensors with ``.cuda()``; on a CPU they stay where they are."""
    cuda = torch.Tensor.cuda
    torch.Tensor.cuda = lambda self, *args, **kwargs: self
    try:
        yield
    finally:
        torch.Tensor.cuda = cuda


def build_densepre(batch):
    sys.path.insert(0, osp.join(REPO, 'tools', 'analysis_tools'))
    import benchmark_train_step as bts
    from mmengine.config import Config
    from mmengine.logging import MessageHub

    from densepre.utils import register_all_modules
    register_all_modules()
    bts.quiet_logger()
    cfg = Config.fromfile(CONFIG)
    model = bts.build_model(cfg)
    bts.check_queue(model, batch, 'densepre')
    with torch.no_grad():  # full side-queue of random unit vectors, as the release starts
        side = model.queue.side('backbone')
        side.copy_(F.normalize(torch.randn_like(side), dim=0))
        model.queue.filled.fill_(model.queue.length)
    bts.prepare_message_hub(1000)
    MessageHub.get_current_instance().update_info('epoch', cfg.model.warmup_epochs)  # L_nn on
    return cfg, model, bts.build_optim(model, cfg, 'fp32'), bts


def build_release(release_dir, cfg):
    """The released MoCo (builder_ours_warmup) with the -release config's hyper-parameters."""
    import torchvision.models as tvm
    sys.path.insert(0, release_dir)
    from builder import builder_ours_warmup
    m = cfg.model
    model = builder_ours_warmup.MoCo(tvm.resnet50, m.knn_k, m.feat_dim, m.queue_len,
                                     1 - m.momentum, m.head.temperature, True).train()
    opt = cfg.optim_wrapper.optimizer
    optimizer = torch.optim.SGD(model.parameters(), opt.lr, momentum=opt.momentum,
                                weight_decay=opt.weight_decay)
    return model, optimizer


def make_steps(release_dir, batch, threads=1):
    """One training step of each side on the same views: ``{'densepre': f, 'release': f}``,
    ``f(i)`` runs step ``i`` and returns the loss tensor (not read: no host sync of its own)."""
    check_release_dir(release_dir)
    torch.set_num_threads(threads)
    import torch.distributed as dist
    if not dist.is_initialized():
        os.environ.setdefault('MASTER_ADDR', '127.0.0.1')
        os.environ.setdefault('MASTER_PORT', '29533')
        dist.init_process_group('gloo', rank=0, world_size=1)
    cfg, dp_model, dp_optim, bts = build_densepre(batch)
    torch.manual_seed(0)
    rel_model, rel_optim = build_release(osp.abspath(release_dir), cfg)
    criterion = torch.nn.CrossEntropyLoss()
    rng = np.random.default_rng(0)
    batches = [bts.random_batch(list(SIZES), batch, bts.packs_geometry(cfg), rng, GROUPS)
               for _ in range(2)]
    # the release's loader normalises RGB; the views are already RGB for both sides here
    rel_inputs = [[(v.float()[:, [2, 1, 0]] - MEAN) / STD for v in b['inputs']]
                  for b in batches]

    def densepre_step(i):
        bts.set_iter(i)
        return dp_model.train_step(batches[i % 2], dp_optim)['loss'].detach()

    def release_step(i):
        im_q, im_k, *small = rel_inputs[i % 2]
        im_small = torch.stack(small, dim=1).flatten(0, 1)  # its loader's (b, 4) order
        with cuda_calls_are_noops():
            output, target, aux = rel_model(im_q, im_k, im_small)
        loss = criterion(output, target) + cfg.model.knn_weight * aux
        rel_optim.zero_grad()
        loss.backward()
        rel_optim.step()
        return loss.detach()

    return {'densepre': densepre_step, 'release': release_step, 'cfg': cfg}


def main(argv=None):
    args = parse_args(argv)
    steps = make_steps(args.release_dir, args.batch, args.threads)
    densepre_step, release_step, cfg = steps['densepre'], steps['release'], steps['cfg']

    times = {'densepre': [], 'release': []}
    cpu = {'densepre': [], 'release': []}
    for i in range(args.warmup + args.iters):
        order = (('densepre', densepre_step), ('release', release_step))
        for name, step in (order if i % 2 == 0 else order[::-1]):
            t0, c0 = time.perf_counter(), time.process_time()
            step(i)
            if i >= args.warmup:
                times[name].append(time.perf_counter() - t0)
                cpu[name].append(time.process_time() - c0)
    med = {k: statistics.median(v) for k, v in times.items()}
    cmed = {k: statistics.median(v) for k, v in cpu.items()}
    paired = [a / b for a, b in zip(cpu['densepre'], cpu['release'])]
    print(f'kNN-MoCo ResNet-50, batch {args.batch}, views 2 x 160 + 4 x 96 px, K '
          f'{cfg.model.queue_len}, fp32, {args.threads} thread(s), {args.iters} timed steps '
          f'each (after {args.warmup}), interleaved')
    print('| side | wall median ms | CPU median ms |')
    print('|---|---|---|')
    for k in ('densepre', 'release'):
        print(f'| {k} | {med[k] * 1e3:.0f} | {cmed[k] * 1e3:.0f} |')
    print(f'| ratio densepre / release | {med["densepre"] / med["release"]:.3f} | '
          f'{cmed["densepre"] / cmed["release"]:.3f} (paired median '
          f'{statistics.median(paired):.3f}) |')
    return dict(wall=med, cpu=cmed, paired_cpu=paired)


if __name__ == '__main__':
    main()
