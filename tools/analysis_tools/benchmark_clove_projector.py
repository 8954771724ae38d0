"""CLoVE step time with the per-pixel projector as 1×1 convolutions (its former implementation)
and as one matrix product over the cells (``PixelProjector.forward``), against a BYOL step on
the same views, all interleaved in one process (same load for the three)::

    python tools/analysis_tools/benchmark_clove_projector.py \\
        configs/byol/byol-mc_r50_8xb64_200e.py configs/clove/clove_r50_4xb512-lars_200e.py \\
        --clove-cfg-options model.backbone.norm_cfg.type=BN model.neck.norm_cfg.type=BN \\
        --batch 4 --rounds 6

Prints each step's wall and process CPU time and the medians over the rounds after the first
(warm-up) round, with the ratios to BYOL. Uses benchmark_train_step.py's model / batch helpers.
"""
import argparse
import json
import os.path as osp
import statistics
import sys
import time

import numpy as np
import torch

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
import benchmark_train_step as bt  # noqa: E402


def conv_forward(self, x):
    """PixelProjector as 1×1 convolutions + BatchNorm2d on the map (its former forward)."""
    if not isinstance(x, torch.Tensor):
        x = x[self.in_index]
    return self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))


def subject(path, options, batch):
    cfg = bt.load_config(path, bt.parse_cfg_options(options))
    torch.manual_seed(0)
    model = bt.build_model(cfg)
    optim_wrapper = bt.build_optim(model, cfg)
    sizes = bt.view_sizes(bt.view_spec(cfg))
    data = bt.random_batch(sizes, batch, bt.packs_geometry(cfg), np.random.default_rng(0),
                           bt.packed_view_groups(cfg))
    return model, optim_wrapper, data


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('byol_config')
    parser.add_argument('clove_config')
    parser.add_argument('--clove-cfg-options', nargs='+', default=[])
    parser.add_argument('--batch', type=int, default=4)
    parser.add_argument('--rounds', type=int, default=6, help='timed rounds (+1 warm-up)')
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--json', help='write the per-step times here')
    args = parser.parse_args(argv)

    from densepre.utils import register_all_modules
    from densepre.models.necks.pixel_projector import PixelProjector
    register_all_modules()
    torch.set_num_threads(args.threads)
    bt.quiet_logger()
    bt.prepare_message_hub()
    byol = subject(args.byol_config, [], args.batch)
    clove = subject(args.clove_config, args.clove_cfg_options, args.batch)
    matmul_forward = PixelProjector.forward
    plan = [('byol', byol, None), ('clove_conv', clove, conv_forward),
            ('clove_matmul', clove, matmul_forward)]
    times = {name: [] for name, _, _ in plan}
    try:
        for r in range(args.rounds + 1):
            for name, subj, forward in (plan if r % 2 == 0 else plan[::-1]):
                if forward is not None:
                    PixelProjector.forward = forward
                wall, cpu = time.perf_counter(), time.process_time()
                bt.train_step(*subj)
                wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
                print(f'round {r} {name:13s} wall {wall:.2f} s  cpu {cpu:.2f} s', flush=True)
                if r:
                    times[name].append((wall, cpu))
    finally:
        PixelProjector.forward = matmul_forward
    if args.rounds:
        med = {k: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v))
               for k, v in times.items()}
        for k, (w, c) in med.items():
            print(f'{k:13s} median wall {w:.2f} s  cpu {c:.2f} s  / byol: wall '
                  f'{w / med["byol"][0]:.3f}  cpu {c / med["byol"][1]:.3f}')
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(times, f)
    return times


if __name__ == '__main__':
    main()
