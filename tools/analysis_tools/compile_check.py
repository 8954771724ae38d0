"""Does ``torch.compile`` work on a config's networks, how many graph breaks, and what does it do
to the CPU step time? (densepre/engine/compile.py: backbone, neck and heads compiled in place,
as ``DenseRunner`` does for the ``compile`` config key.)

Two copies of the model with the same weights: eager (A) and compiled (B). Both run ``--warmup``
steps (B compiles there), then ``--steps`` timed steps interleaved A, B, A, B ... on the same
batches. Reported: the compiled parts, Dynamo's graph breaks (count and reasons) and graphs, the
loss difference B - A at the first step (same weights and batch), and the step-time ratio B / A
of the medians (wall clock and CPU time). If compilation or the compiled step fails, the error is
reported as the reason the config cannot be compiled.

Usage::

    python tools/analysis_tools/compile_check.py tests/configs/byol_r18_tiny.py --batch 4 \\
        --steps 5 --warmup 2 [--backend inductor] [--json out.json]
"""
import argparse
import copy
import os.path as osp
import statistics
import sys
import tempfile
import time
import traceback
from typing import Dict

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if REPO not in sys.path:
    sys.path.insert(0, REPO)
sys.path.insert(0, osp.dirname(osp.abspath(__file__)))

import numpy as np  # noqa: E402
import torch  # noqa: E402

import benchmark_train_step as bts  # noqa: E402

sys.path.pop(0)


def _loss(model, wrapper, data) -> float:
    return float(model.train_step(data, wrapper)['loss'].detach())


def run(args) -> Dict:
    import torch._dynamo
    from densepre.engine.compile import compile_parts
    cfg = bts.load_config(args.config, bts.parse_cfg_options(args.cfg_options))
    sizes = bts.view_sizes(bts.view_spec(cfg, args.size))
    ns = argparse.Namespace(warmup=args.warmup, iters=args.steps,
                            max_batches=args.warmup + args.steps, data='random', seed=args.seed,
                            batch=args.batch, demo_image_size=96)
    batches = bts.make_batches(cfg, sizes, ns, args.tmpdir)
    bts.prepare_message_hub()
    torch.manual_seed(args.seed)
    eager = bts.build_model(cfg)
    compiled = copy.deepcopy(eager)
    out = dict(config=args.config, backend=args.backend, batch=args.batch, warmup=args.warmup,
               steps=args.steps, threads=torch.get_num_threads(), torch=torch.__version__)
    torch._dynamo.reset()
    torch._dynamo.utils.counters.clear()
    try:
        out['parts'] = compile_parts(compiled, dict(backend=args.backend))
        wrappers = [bts.build_optim(m, cfg, 'fp32') for m in (eager, compiled)]
        losses = []
        t0 = time.perf_counter()
        for i in range(args.warmup):
            bts.set_iter(i)
            state = torch.get_rng_state()
            la = _loss(eager, wrappers[0], batches[i])
            torch.set_rng_state(state)  # same random choices in both models
            lb = _loss(compiled, wrappers[1], batches[i])
            losses.append((la, lb))
        out['warmup_s'] = round(time.perf_counter() - t0, 1)
    except Exception as e:  # noqa: BLE001 - reported as the reason
        out['works'] = False
        out['reason'] = f'{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ""}'
        out['traceback'] = traceback.format_exc(limit=-3)
        return out
    out['works'] = True
    out['first_loss_eager'], out['first_loss_compiled'] = losses[0]
    out['first_loss_abs_diff'] = abs(losses[0][0] - losses[0][1])
    counters = torch._dynamo.utils.counters
    out['graph_breaks'] = sum(counters['graph_break'].values())
    out['graph_break_reasons'] = {k[:160]: v for k, v in counters['graph_break'].items()}
    out['unique_graphs'] = counters['stats'].get('unique_graphs', 0)
    times = {0: [], 1: []}
    cpu = {0: [], 1: []}
    for i in range(args.warmup, args.warmup + args.steps):
        bts.set_iter(i)
        order = (0, 1) if i % 2 == 0 else (1, 0)
        for k in order:
            model = (eager, compiled)[k]
            c0, w0 = time.process_time(), time.perf_counter()
            _loss(model, wrappers[k], batches[i % len(batches)])
            times[k].append(time.perf_counter() - w0)
            cpu[k].append(time.process_time() - c0)
    out['eager_ms'] = round(1000 * statistics.median(times[0]), 1)
    out['compiled_ms'] = round(1000 * statistics.median(times[1]), 1)
    out['ratio_compiled_over_eager'] = round(statistics.median(times[1]) /
                                             statistics.median(times[0]), 3)
    out['ratio_cpu_time'] = round(statistics.median(cpu[1]) / statistics.median(cpu[0]), 3)
    return out


def format_result(r: Dict) -> str:
    head = f"{r['config']}  backend {r['backend']}  batch {r['batch']}  threads {r['threads']}"
    if not r['works']:
        return f"{head}\n  does not compile: {r['reason']}"
    lines = [head, f"  compiled parts: {', '.join(r['parts'])}",
             f"  graph breaks: {r['graph_breaks']}   graphs: {r['unique_graphs']}   "
             f"warm-up (compile) {r['warmup_s']} s",
             f"  first-step loss eager {r['first_loss_eager']:.6f} compiled "
             f"{r['first_loss_compiled']:.6f} (|diff| {r['first_loss_abs_diff']:.2e})",
             f"  median step: eager {r['eager_ms']} ms, compiled {r['compiled_ms']} ms, ratio "
             f"{r['ratio_compiled_over_eager']} (CPU time {r['ratio_cpu_time']})"]
    for reason, n in r['graph_break_reasons'].items():
        lines.append(f'    {n} x {reason}')
    return '\n'.join(lines)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='torch.compile on a config: breaks and speed')
    parser.add_argument('config')
    parser.add_argument('--backend', default='inductor')
    parser.add_argument('--batch', type=int, default=4)
    parser.add_argument('--steps', type=int, default=5, help='timed steps per model')
    parser.add_argument('--warmup', type=int, default=2, help='untimed steps (compilation)')
    parser.add_argument('--size', type=int, default=None)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--cfg-options', nargs='+', default=[], metavar='KEY=VALUE')
    parser.add_argument('--json', metavar='OUT')
    return parser.parse_args(argv)


def main(argv=None) -> Dict:
    args = parse_args(argv)
    if args.warmup < 1 or args.steps < 1:
        raise ValueError('--warmup and --steps must be >= 1')
    from densepre.utils import register_all_modules
    register_all_modules()
    bts.quiet_logger()
    np.random.seed(args.seed)
    with tempfile.TemporaryDirectory(prefix='densepre_compile_') as tmpdir:
        args.tmpdir = tmpdir
        result = run(args)
    print(format_result(result), flush=True)
    bts.write_json(args.json, result)
    return result


if __name__ == '__main__':
    main()
