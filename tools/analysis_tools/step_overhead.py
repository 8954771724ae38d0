"""Count, per training step of a config, the host synchronisations and the aten ops (CPU, exact).

On a GPU a step is fast only if the host never waits for the device and launches few kernels.
Both can be counted on a CPU, exactly (counts, not timings):

* **host syncs**: Python calls of ``Tensor.item``, ``__bool__`` (``if t:``, ``bool(t)``),
  ``__int__``, ``__float__``, ``__index__``, ``.cpu()`` and ``.tolist()`` during the step, each
  with its call site (the innermost frame outside torch). On a GPU each of them waits for every
  queued kernel. (On this CPU a few of them may read a tensor that would live on the host on a
  GPU too; the call sites say which.)
* **data-dependent ops**: aten ops whose output shape depends on tensor values
  (``nonzero``, ``masked_select``, boolean-mask indexing, ``unique``...): on a GPU they also
  synchronise, from inside the op.
* **scalar reads**: calls of ``aten._local_scalar_dense``, the op behind every read of one tensor
  value (the Python-level ``item`` / ``bool`` / ``int`` / ``float`` above, and reads from C++).
* **aten ops**: every aten call seen by a ``TorchDispatchMode`` (forward, backward, optimizer,
  EMA, queue updates): on a GPU roughly one kernel launch each.

A step is what the Runner does per iteration, ``model.train_step(batch, optim_wrapper)`` (data
preprocessor, loss, backward, optimizer update, EMA / queue updates), without the Runner's
logging (which reads the logged values once per step by design). The model, optimizer and
batches are built as ``benchmark_train_step.py`` builds them (random init, the config's
optimizer in fp32, random batches shaped like the config's views, or ``--data demo``).
``--warmup`` steps run first (the first step creates momentum buffers and copies the EMA
teacher), then ``--steps`` counted steps.

Usage::

    python tools/analysis_tools/step_overhead.py configs/demo/clove_r18_1xb32-64px-40e_demo.py \\
        --batch 8 --steps 2 [--json out.json] [--cfg-options ...]

densepre's step beside the authors' released step (LEWEL_B, CLoVE, kNN-MoCo) on the same views,
both built by the method's release speed tool (``make_steps``), the release imported from a
checkout given at run time; prints both counts and the op-histogram differences::

    python tools/analysis_tools/step_overhead.py --release lewel_b --release-dir /tmp/LEWEL \\
        --batch 2 --size 64 --warmup 2 --steps 2
"""
import argparse
import collections
import functools
import importlib
import os
import os.path as osp
import sys
import tempfile
import traceback
import warnings
from typing import Callable, Dict, List, Optional

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if REPO not in sys.path:
    sys.path.insert(0, REPO)
sys.path.insert(0, osp.dirname(osp.abspath(__file__)))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch.utils._python_dispatch import TorchDispatchMode  # noqa: E402

import benchmark_train_step as bts  # noqa: E402

sys.path.pop(0)

SYNC_METHODS = ('item', '__bool__', '__int__', '__float__', '__index__', 'cpu', 'tolist')
#: aten ops whose output size depends on tensor values (a device -> host read inside the op)
DATA_DEPENDENT_OPS = ('nonzero', 'nonzero_static', 'masked_select', 'unique', '_unique',
                      '_unique2', 'unique_dim', 'unique_consecutive', 'repeat_interleave',
                      'bincount', 'histc', 'argwhere')
#: (file, function) of reads that only log a value (the issue's "logging aside")
LOGGING_SITES = (('mmengine/optim/optimizer/optimizer_wrapper.py', ' _clip_grad'), )
TORCH_DIR = osp.dirname(torch.__file__)
THIS_FILE = osp.abspath(__file__)


def _call_site() -> str:
    """The innermost frame outside torch and this tool, as ``path:line function``."""
    for frame in reversed(traceback.extract_stack()[:-2]):
        path = osp.abspath(frame.filename)
        if path.startswith(TORCH_DIR) or path == THIS_FILE:
            continue
        for root in (REPO, ):
            if path.startswith(root + os.sep):
                path = osp.relpath(path, root)
                break
        else:
            parts = path.split(os.sep)
            if 'site-packages' in parts:
                path = os.sep.join(parts[parts.index('site-packages') + 1:])
        return f'{path}:{frame.lineno} {frame.name}'
    return '<torch>'


class SyncCounter:
    """Counts the Python-level host syncs (``SYNC_METHODS``) while active, with call sites.

    Patches ``torch.Tensor`` methods for the duration of the ``with`` block; nested calls (e.g.
    a ``__float__`` that calls ``item``) count once. Two kinds of reads are listed apart:

    * ``host_ids``: tensors that stay on the host on a GPU too (torch's Adam / AdamW / SGD keep
      their ``step`` counter on the CPU unless ``capturable`` / ``fused``): reading them does
      not wait for the device;
    * :data:`LOGGING_SITES`: reads made only to log a value (MMEngine logs the gradient norm
      that ``clip_grad`` returns with ``float()``).
    """

    def __init__(self, host_ids=()) -> None:
        self.calls: collections.Counter = collections.Counter()  # (method, site) -> count
        self.host_only: collections.Counter = collections.Counter()
        self.logging: collections.Counter = collections.Counter()
        self.host_ids = set(host_ids)
        self._saved: Dict[str, object] = {}
        self._depth = 0

    def _wrap(self, name, original):
        counter = self

        def wrapper(tensor, *args, **kwargs):
            if counter._depth == 0:
                site = _call_site()
                if id(tensor) in counter.host_ids:
                    counter.host_only[(name, site)] += 1
                elif any(f in site and fn in site for f, fn in LOGGING_SITES):
                    counter.logging[(name, site)] += 1
                else:
                    counter.calls[(name, site)] += 1
            counter._depth += 1
            try:
                return original(tensor, *args, **kwargs)
            finally:
                counter._depth -= 1

        wrapper.__name__ = name
        return wrapper

    def __enter__(self) -> 'SyncCounter':
        for name in SYNC_METHODS:
            original = getattr(torch.Tensor, name)
            self._saved[name] = torch.Tensor.__dict__.get(name, None)
            setattr(torch.Tensor, name, self._wrap(name, original))
        return self

    def __exit__(self, *exc) -> None:
        for name, saved in self._saved.items():
            if saved is None:
                delattr(torch.Tensor, name)
            else:
                setattr(torch.Tensor, name, saved)
        self._saved.clear()

    @property
    def total(self) -> int:
        return sum(self.calls.values())

    def by_method(self) -> Dict[str, int]:
        out = collections.Counter()
        for (name, _), n in self.calls.items():
            out[name] += n
        return dict(out)

    @staticmethod
    def by_site(calls) -> Dict[str, int]:
        out = collections.Counter()
        for (name, site), n in calls.items():
            out[f'{site} [{name}]'] += n
        return dict(out.most_common())


class OpCounter(TorchDispatchMode):
    """Counts every aten op call (and the data-dependent ones separately)."""

    def __init__(self) -> None:
        super().__init__()
        self.ops: collections.Counter = collections.Counter()
        self.data_dependent: collections.Counter = collections.Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func.overloadpacket.__name__
        self.ops[name] += 1
        if name in DATA_DEPENDENT_OPS or (name == 'index' and any(
                isinstance(i, torch.Tensor) and i.dtype == torch.bool
                for i in (args[1] if len(args) > 1 else ()) if i is not None)):
            self.data_dependent[name if name != 'index' else 'index(bool mask)'] += 1
        return func(*args, **(kwargs or {}))

    @property
    def total(self) -> int:
        return sum(self.ops.values())


def count_step(step: Callable[[], object], host_ids=()) -> dict:
    """Host syncs (with call sites) and aten ops (with their histogram) of one call of ``step``."""
    with SyncCounter(host_ids) as syncs, OpCounter() as ops:
        step()
    return dict(host_syncs=syncs.total, by_method=syncs.by_method(),
                sync_sites=SyncCounter.by_site(syncs.calls),
                data_dependent_ops=sum(ops.data_dependent.values()),
                data_dependent=dict(ops.data_dependent),
                scalar_reads=ops.ops['_local_scalar_dense'], aten_ops=ops.total,
                op_histogram=dict(ops.ops.most_common()))


#: --release NAME -> (speed tool beside this file that builds both steps, its keyword arguments
#: from this tool's options)
RELEASES = {
    'lewel_b': ('lewel_release_speed', lambda a: dict(batch=a.batch, size=a.size or 64)),
    'clove': ('benchmark_clove_vs_release', lambda a: dict(batch=a.batch)),
    'knn-moco': ('revisiting_release_speed', lambda a: dict(batch=a.batch)),
}


def release_steps(name: str, release_dir: str, args) -> Dict[str, Callable[[int], object]]:
    """densepre's and the release's step functions ``f(i)`` on the same views, built by the
    method's release speed tool (which imports the release from ``release_dir``)."""
    if name not in RELEASES:
        raise ValueError(f'--release {name!r}: expected one of {sorted(RELEASES)}')
    module, kwargs = RELEASES[name]
    sys.path.insert(0, osp.dirname(THIS_FILE))
    try:
        tool = importlib.import_module(module)
    finally:
        sys.path.pop(0)
    # refuse a directory without the release before building anything
    tool.check_release_dir(release_dir)
    steps = tool.make_steps(osp.abspath(release_dir), **kwargs(args))
    return {k: steps[k] for k in ('densepre', 'release')}


def compare_steps(steps: Dict[str, Callable[[int], object]], warmup: int = 1,
                  counted: int = 1) -> dict:
    """``warmup`` uncounted steps, then ``counted`` counted steps of every side (interleaved);
    per side the maximum per step and the op histogram of the counted step with most ops, and
    the ops of which densepre runs more than the release (``excess_ops``)."""
    if counted < 1 or warmup < 0:
        raise ValueError('counted must be >= 1 and warmup >= 0')
    for i in range(warmup):
        for step in steps.values():
            step(i)
    per_side = {k: [] for k in steps}
    for i in range(warmup, warmup + counted):
        for name, step in steps.items():
            per_side[name].append(count_step(functools.partial(step, i)))
    result = {}
    for name, counts in per_side.items():
        top = max(counts, key=lambda c: c['aten_ops'])
        sites = collections.Counter()
        for c in counts:
            sites.update(c['sync_sites'])
        result[name] = dict(host_syncs_per_step=max(c['host_syncs'] for c in counts),
                            aten_ops_per_step=top['aten_ops'],
                            data_dependent_ops_per_step=max(c['data_dependent_ops']
                                                            for c in counts),
                            sync_sites={k: v / len(counts) for k, v in sites.most_common()},
                            op_histogram=top['op_histogram'])
    if 'densepre' in result and 'release' in result:
        ours, theirs = result['densepre']['op_histogram'], result['release']['op_histogram']
        diff = {op: ours.get(op, 0) - theirs.get(op, 0) for op in set(ours) | set(theirs)}
        result['excess_ops'] = dict(sorted(((k, v) for k, v in diff.items() if v > 0),
                                           key=lambda kv: -kv[1]))
        result['fewer_ops'] = dict(sorted(((k, -v) for k, v in diff.items() if v < 0),
                                          key=lambda kv: -kv[1]))
    return result


def format_comparison(name: str, r: dict, top: int = 12) -> str:
    lines = [f'{name}: densepre | release (max per step)',
             '| side | host syncs / step | data-dependent ops / step | aten ops / step |',
             '|---|---|---|---|']
    for side in ('densepre', 'release'):
        s = r[side]
        lines.append(f"| {side} | {s['host_syncs_per_step']} | "
                     f"{s['data_dependent_ops_per_step']} | {s['aten_ops_per_step']} |")
    for side in ('densepre', 'release'):
        if r[side]['sync_sites']:
            lines.append(f'  {side} sync call sites (per step):')
            lines += [f'    {n:g}  {site}' for site, n in r[side]['sync_sites'].items()]
    for key, sign, title in (('excess_ops', '+', 'ops densepre runs more often'),
                             ('fewer_ops', '-', 'ops densepre runs less often')):
        items = list(r.get(key, {}).items())
        if items:
            lines.append(f'  {title} than the release (per step, top {top} of {len(items)}): ' +
                         ', '.join(f'{k} {sign}{v}' for k, v in items[:top]))
    return '\n'.join(lines)


def build(args):
    """Model, optim wrapper and batches of the config (as benchmark_train_step.py builds them)."""
    cfg = bts.load_config(args.config, bts.parse_cfg_options(args.cfg_options))
    sizes = bts.view_sizes(bts.view_spec(cfg, args.size))
    ns = argparse.Namespace(warmup=args.warmup, iters=args.steps, max_batches=args.warmup +
                            args.steps, data=args.data, seed=args.seed, batch=args.batch,
                            demo_image_size=args.demo_image_size)
    batches = bts.make_batches(cfg, sizes, ns, args.tmpdir)
    model = bts.build_model(cfg)
    bts.check_queue(model, args.batch, osp.basename(args.config))
    optim_wrapper = bts.build_optim(model, cfg, 'fp32')
    return cfg, model, optim_wrapper, batches


def measure(args) -> dict:
    """Run ``--warmup`` steps, then ``--steps`` counted steps; per-step counts and call sites."""
    cfg, model, optim_wrapper, batches = build(args)
    bts.prepare_message_hub()
    for i in range(args.warmup):
        bts.set_iter(i)
        model.train_step(batches[i % len(batches)], optim_wrapper)
    steps = []
    sites: collections.Counter = collections.Counter()
    host_only: collections.Counter = collections.Counter()
    logging: collections.Counter = collections.Counter()
    for i in range(args.warmup, args.warmup + args.steps):
        bts.set_iter(i)
        data = batches[i % len(batches)]
        host_ids = [s['step'] for s in optim_wrapper.optimizer.state.values()
                    if torch.is_tensor(s.get('step')) and s['step'].device.type == 'cpu'
                    and not any(g.get('capturable') or g.get('fused')
                                for g in optim_wrapper.optimizer.param_groups)]
        with SyncCounter(map(id, host_ids)) as syncs, OpCounter() as ops:
            model.train_step(data, optim_wrapper)
        host_only.update(SyncCounter.by_site(syncs.host_only))
        logging.update(SyncCounter.by_site(syncs.logging))
        steps.append(dict(host_syncs=syncs.total, by_method=syncs.by_method(),
                          host_only_reads=sum(syncs.host_only.values()),
                          logging_reads=sum(syncs.logging.values()),
                          data_dependent_ops=sum(ops.data_dependent.values()),
                          data_dependent=dict(ops.data_dependent),
                          scalar_reads=ops.ops['_local_scalar_dense'], aten_ops=ops.total))
        sites.update(SyncCounter.by_site(syncs.calls))
    optimizer = type(optim_wrapper.optimizer).__name__
    variant = getattr(optim_wrapper.optimizer, 'variant', None)
    return dict(
        config=osp.relpath(osp.abspath(args.config), REPO) if osp.abspath(args.config).startswith(
            REPO) else args.config,
        optimizer=optimizer + (f'({variant})' if variant else ''),
        batch=args.batch, warmup=args.warmup, steps=steps,
        host_syncs_per_step=max(s['host_syncs'] for s in steps),
        data_dependent_ops_per_step=max(s['data_dependent_ops'] for s in steps),
        scalar_reads_per_step=max(s['scalar_reads'] for s in steps),
        aten_ops_per_step=max(s['aten_ops'] for s in steps),
        sync_sites={k: v / len(steps) for k, v in sites.most_common()},
        host_only_sites={k: v / len(steps) for k, v in host_only.most_common()},
        logging_sites={k: v / len(steps) for k, v in logging.most_common()})


def format_report(r: dict) -> str:
    lines = [f"{r['config']}  optimizer {r['optimizer']}  batch {r['batch']}  "
             f"(max over {len(r['steps'])} step(s) after {r['warmup']} warm-up)",
             f"  host syncs / step:         {r['host_syncs_per_step']}",
             f"  data-dependent ops / step: {r['data_dependent_ops_per_step']}",
             f"  scalar reads / step:       {r['scalar_reads_per_step']}",
             f"  aten ops / step:           {r['aten_ops_per_step']}"]
    for key, title in (('sync_sites', 'sync call sites'),
                       ('logging_sites', 'logging reads (not counted)'),
                       ('host_only_sites', 'reads of host-resident tensors (not counted)')):
        if r[key]:
            lines.append(f'  {title} (per step):')
            lines += [f'    {n:g}  {site}' for site, n in r[key].items()]
    dd = collections.Counter()
    for s in r['steps']:
        dd.update(s['data_dependent'])
    if dd:
        lines.append('  data-dependent ops (total): ' +
                     ', '.join(f'{k} {v}' for k, v in dd.most_common()))
    return '\n'.join(lines)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Host syncs and aten ops per training step of a config (CPU, exact).')
    parser.add_argument('config', nargs='?', help='pretraining config (not with --release)')
    parser.add_argument('--release', choices=sorted(RELEASES),
                        help="count densepre's step and the authors' released step on the same "
                        'views instead of a config (needs --release-dir)')
    parser.add_argument('--release-dir', metavar='DIR',
                        help="checkout of the authors' code for --release (imported at run "
                        'time, never copied): LEWEL (models/, backbone/, utils/), CLoVE '
                        '(contrast/), Revisiting-Contrastive-SSL (builder/)')
    parser.add_argument('--batch', type=int, default=8, help='images per step (default 8)')
    parser.add_argument('--steps', type=int, default=2, help='counted steps (default 2)')
    parser.add_argument('--warmup', type=int, default=2,
                        help='uncounted steps first (default 2: the first creates buffers)')
    parser.add_argument('--size', type=int, default=None,
                        help='first view group size in px (as benchmark_train_step.py)')
    parser.add_argument('--data', choices=['random', 'demo'], default='random')
    parser.add_argument('--demo-image-size', type=int, default=96)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--cfg-options', nargs='+', default=[], metavar='KEY=VALUE')
    parser.add_argument('--json', metavar='OUT', help='also write the result as JSON')
    return parser.parse_args(argv)


def main_release(args) -> dict:
    """``--release NAME --release-dir DIR``: both steps on the same views, counted alike."""
    if args.config or not args.release_dir:
        raise ValueError('--release needs --release-dir DIR and no config (the release speed '
                         "tool builds densepre's side from its -release config)")
    steps = release_steps(args.release, args.release_dir, args)
    result = compare_steps(steps, args.warmup, args.steps)
    result.update(method=args.release, batch=args.batch, warmup=args.warmup)
    print(format_comparison(args.release, result), flush=True)
    return result


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.steps < 1 or args.warmup < 0:
        raise ValueError('--steps must be >= 1 and --warmup >= 0')
    if args.release or args.release_dir:
        if not args.release:
            raise ValueError('--release-dir needs --release NAME '
                             f'(one of {sorted(RELEASES)})')
        result = main_release(args)
        bts.write_json(args.json, result)
        return result
    if not args.config:
        raise ValueError('a config (or --release NAME --release-dir DIR) is needed')
    from densepre.utils import register_all_modules
    register_all_modules()
    bts.quiet_logger()
    warnings.filterwarnings('ignore', message="Only use 'alpha' for pillow backend")
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    with tempfile.TemporaryDirectory(prefix='densepre_overhead_') as tmpdir:
        args.tmpdir = tmpdir
        result = measure(args)
    print(format_report(result), flush=True)
    bts.write_json(args.json, result)
    return result


if __name__ == '__main__':
    main()
