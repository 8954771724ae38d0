"""How much the LARS formulas of FusedLARS (``mmpretrain``, ``lewel_release``, ``clove_release``)
differ on a real model and schedule: the same model, weights and batches are trained with each
variant through ``model.train_step`` for ``--steps`` steps under a linear lr warm-up (the recipes'
warm-up), and each step's update ``Δθ`` of every variant is compared with mmpretrain's.

Per step ``t`` (1-based) it prints, for each variant v:

* ``|Δθ_v| / |Δθ_mm|`` — the ratio of the update norms (all optimised parameters), each along its
  own trajectory;
* for ``clove_release``, the prediction of the lr placement alone during a linear warm-up,
  ``t / (t - m/(1-m))`` for large t (m = momentum; ``t/(t-9)`` for m = 0.9), computed exactly as
  ``lr_t · Σ m^k / Σ m^k lr_{t-k}``;
* ``|θ_v − θ_mm| / |θ_mm − θ_0|`` — how far the trajectories have drifted apart.

Usage::

    python tools/analysis_tools/compare_lars_variants.py \\
        configs/demo/clove_r18_1xb32-64px-40e_demo.py --batch 4 --steps 30 --warmup-iters 100 \\
        [--json out.json]
"""
import argparse
import copy
import os.path as osp
import sys
from typing import Dict, List

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if REPO not in sys.path:
    sys.path.insert(0, REPO)
sys.path.insert(0, osp.dirname(osp.abspath(__file__)))

import numpy as np  # noqa: E402
import torch  # noqa: E402

import benchmark_train_step as bts  # noqa: E402

sys.path.pop(0)

VARIANTS = ('mmpretrain', 'lewel_release', 'clove_release')


def flat(model) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1).double() for p in model.parameters()
                      if p.requires_grad])


def warmup_lrs(base_lr: float, steps: int, warmup_iters: int, start_factor: float) -> List[float]:
    """MMEngine LinearLR (iteration-based): factor from start_factor to 1 over warmup_iters."""
    return [base_lr * (start_factor + (1 - start_factor) * min(t, warmup_iters) / warmup_iters)
            for t in range(steps)]


def lr_placement_ratio(lrs: List[float], t: int, momentum: float) -> float:
    """lr_t Σ_k m^k / Σ_k m^k lr_{t-k}: release step over mmpretrain step for a constant
    direction (only the lr placement differs)."""
    weights = [momentum ** k for k in range(t + 1)]
    return lrs[t] * sum(weights) / sum(w * lrs[t - k] for k, w in enumerate(weights))


def run(args) -> Dict:
    cfg = bts.load_config(args.config, bts.parse_cfg_options(args.cfg_options))
    opt_cfg = cfg.optim_wrapper.optimizer
    if opt_cfg.type not in ('FusedLARS', 'densepre.FusedLARS'):
        raise ValueError(f'{args.config}: optim_wrapper.optimizer.type is {opt_cfg.type!r}, '
                         'this tool compares the variants of FusedLARS')
    sizes = bts.view_sizes(bts.view_spec(cfg, args.size))
    ns = argparse.Namespace(warmup=0, iters=args.steps, max_batches=args.steps, data='random',
                            seed=args.seed, batch=args.batch, demo_image_size=96)
    batches = bts.make_batches(cfg, sizes, ns, '')
    lrs = warmup_lrs(float(opt_cfg.lr), args.steps, args.warmup_iters, args.start_factor)
    momentum = float(opt_cfg.get('momentum', 0.))
    bts.prepare_message_hub()
    torch.manual_seed(args.seed)
    base = bts.build_model(cfg)
    theta0 = flat(base)
    models, wrappers, group_lrs, prev = {}, {}, {}, {}
    for variant in VARIANTS:  # in lockstep: only the current and previous weights are kept
        models[variant] = copy.deepcopy(base)
        vcfg = copy.deepcopy(cfg)
        vcfg.optim_wrapper.optimizer['variant'] = variant
        wrappers[variant] = bts.build_optim(models[variant], vcfg, 'fp32')
        group_lrs[variant] = [g['lr'] for g in wrappers[variant].optimizer.param_groups]
        prev[variant] = theta0
    rows = []
    for t in range(args.steps):
        bts.set_iter(t)
        theta, step = {}, {}
        for variant in VARIANTS:
            wrapper = wrappers[variant]
            for g, lr in zip(wrapper.optimizer.param_groups, group_lrs[variant]):
                g['lr'] = lr * lrs[t] / float(opt_cfg.lr)  # paramwise lr_mult kept
            torch.manual_seed(args.seed + t)  # same random choices (e.g. queue cells) per step
            models[variant].train_step(batches[t], wrapper)
            theta[variant] = flat(models[variant])
            step[variant] = theta[variant] - prev[variant]
            prev[variant] = theta[variant]
        ref_step, ref_theta = step['mmpretrain'], theta['mmpretrain']
        row = dict(step=t + 1, lr=lrs[t])
        for variant in VARIANTS[1:]:
            row[f'{variant}_step_ratio'] = float(step[variant].norm() / ref_step.norm())
            row[f'{variant}_drift'] = float((theta[variant] - ref_theta).norm() /
                                            (ref_theta - theta0).norm())
        row['lr_placement_prediction'] = lr_placement_ratio(lrs, t, momentum)
        rows.append(row)
    return dict(config=args.config, batch=args.batch, momentum=momentum, base_lr=float(opt_cfg.lr),
                warmup_iters=args.warmup_iters, start_factor=args.start_factor, rows=rows)


def format_rows(result: Dict) -> str:
    head = ('step  lr        lewel/mm step  lewel drift  clove/mm step  predicted  clove drift')
    lines = [f"{result['config']}  batch {result['batch']}  m {result['momentum']}  "
             f"warm-up {result['warmup_iters']} iters from x{result['start_factor']}", head]
    for r in result['rows']:
        lines.append(f"{r['step']:>4}  {r['lr']:<8.4g}  {r['lewel_release_step_ratio']:<13.6f}  "
                     f"{r['lewel_release_drift']:<11.2e}  {r['clove_release_step_ratio']:<13.4f}  "
                     f"{r['lr_placement_prediction']:<9.4f}  {r['clove_release_drift']:.4f}")
    return '\n'.join(lines)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Compare the FusedLARS formulas on a config.')
    parser.add_argument('config', help='a config whose optimizer is FusedLARS')
    parser.add_argument('--batch', type=int, default=4)
    parser.add_argument('--steps', type=int, default=30)
    parser.add_argument('--warmup-iters', type=int, default=100,
                        help='linear warm-up length in iterations (the recipes: 5-10 epochs)')
    parser.add_argument('--start-factor', type=float, default=0.01)
    parser.add_argument('--size', type=int, default=None)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--cfg-options', nargs='+', default=[], metavar='KEY=VALUE')
    parser.add_argument('--json', metavar='OUT')
    return parser.parse_args(argv)


def main(argv=None) -> Dict:
    args = parse_args(argv)
    from densepre.utils import register_all_modules
    register_all_modules()
    bts.quiet_logger()
    np.random.seed(args.seed)
    result = run(args)
    print(format_rows(result), flush=True)
    bts.write_json(args.json, result)
    return result


if __name__ == '__main__':
    main()
