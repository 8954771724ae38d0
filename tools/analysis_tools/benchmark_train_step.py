"""Time full training steps (forward + backward + optimizer update + EMA / queue updates) of one
config, or of two configs side by side, on CPU.

Each config's model is built from ``cfg.model`` (random init via ``model.init_weights()``, no
pretrained weights) with its ``cfg.optim_wrapper``, in the precision / memory format given by
``--modes`` (default ``fp32``: ``AmpOptimWrapper`` becomes a plain fp32 ``OptimWrapper``):

* ``fp32`` / ``bf16``: fp32 ``OptimWrapper`` / densepre's ``DenseAmpOptimWrapper`` with CPU bf16
  autocast (what ``DenseRunner`` runs for an AMP config on a CPU with bf16 instructions);
* ``-cl`` suffix: the config's ``channels_last = True`` (model and data preprocessor output
  channels-last, ``densepre.engine.channels_last``).

Several modes (``--modes fp32 bf16 fp32-cl bf16-cl``) of one config (and of ``--vs``) are built
side by side and their steps interleaved; ``x first`` is each median over the first row's.
A timed step is exactly what the Runner does per
iteration: ``model.train_step(batch, optim_wrapper)`` = data preprocessor (BGR->RGB, uint8->float,
normalisation), the algorithm's loss (incl. MoCo's key-encoder EMA + queue update, BYOL's target
EMA), backward and the SGD/LARS update. Batches are prepared before timing, so data loading is
not part of the step time (see ``benchmark_data_pipeline.py`` for that).

Batches are shaped like the config's views: the ``GeoMultiView`` (or mmpretrain ``MultiView``) in
``train_dataloader.dataset.pipeline`` gives the number of views per group and each group's
``(Geo)RandomResizedCrop`` ``scale``.

* ``--data random``: random uint8 images in the collated format the data preprocessor expects,
  ``dict(inputs=[V x (B, 3, H, W) uint8], data_samples=[B x DataSample(view_geometry=(V, 8))])``.
* ``--data demo``: real batches from the config's own train dataloader (0 workers) reading the
  synthetic demo set (``densepre.demo.imagenet_voc_coco.make_demo_data``) written to a temp dir.

With ``--vs CONFIG2`` the two models' steps are interleaved (A, B, A, B, ...) in one process, so
machine noise (e.g. another job on a shared core) hits both alike; the ratio B/A of the median
step times is the robust figure.

Peak memory: torch's CPU allocations are invisible to ``tracemalloc``, and a process's RSS
high-water mark never goes down, so in one process running A and B it would only show the larger
of the two (and freed-but-cached malloc arenas make in-process deltas unreliable). Each config's
memory is therefore measured in its own fresh subprocess (``--mem subprocess``, the default): same
config, batch, views, data and threads. The probe reads the RSS high-water mark (Linux: ``VmHWM``
of /proc/self/status, the counter behind ``ru_maxrss`` - see :func:`_peak_mb` for why not
``ru_maxrss`` itself), after imports and data preparation (the baseline), builds the model and
optimizer, runs ``--warmup`` + ``--mem-iters`` steps and reports

* ``peak_rss_mb``: the subprocess's RSS high-water mark (includes ~0.8 GB of Python / torch /
  OpenMMLab libraries that every training process carries);
* ``peak_delta_mb``: that peak minus the baseline = weights + EMA/target copies + queue +
  gradients + optimizer state + the step's transient activations and autograd buffers;
* ``build_delta_mb``: current RSS right after building the model and optimizer, minus the baseline
  (weights, EMA copies, queue; gradients and momentum buffers appear only in the first step).

Usage::

    python tools/analysis_tools/benchmark_train_step.py configs/mocov2/mocov2_r50_8xb32_200e.py \\
        --vs configs/byol/byol_r50_8xb64_200e.py --batch 8 --iters 5 --warmup 1 --threads 2

    # multi-crop: per-size batched passes (A) vs one pass per crop (B), same config
    python tools/analysis_tools/benchmark_train_step.py configs/byol/byol-mc_r50_8xb64_200e.py \
        --vs configs/byol/byol-mc_r50_8xb64_200e.py --vs-cfg-options model.batch_views=False

    # ResNet-18, 32 px views, both configs
    python tools/analysis_tools/benchmark_train_step.py A.py --vs B.py --batch 2 --iters 2 \\
        --size 32 --cfg-options model.backbone.depth=18 model.neck.in_channels=512
"""
import argparse
import contextlib
import copy
import datetime
import json
import math
import os
import os.path as osp
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from typing import Dict, List, Optional, Sequence, Tuple

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

import numpy as np  # noqa: E402
import torch  # noqa: E402
from mmengine.config import Config, DictAction  # noqa: E402

MEM_TAG = 'DENSEPRE_MEMPROBE '
MULTIVIEW_TYPES = ('GeoMultiView', 'MultiView', 'densepre.GeoMultiView', 'mmpretrain.MultiView')
CROP_TYPES = ('GeoRandomResizedCrop', 'RandomResizedCrop', 'densepre.GeoRandomResizedCrop',
              'mmpretrain.RandomResizedCrop')


# ------------------------------------------------------------------------------------ config
def write_json(path: Optional[str], result) -> None:
    """Write a tool's result to ``path`` (nothing when ``path`` is None), creating its folder."""
    if path:
        os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
        with open(path, 'w') as f:
            json.dump(result, f, indent=2)


def parse_cfg_options(raw: Optional[Sequence[str]]) -> dict:
    """``['a.b=1', 'c=[1,2]']`` -> dict, with MMEngine's ``--cfg-options`` syntax."""
    if not raw:
        return {}
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument('--o', nargs='+', action=DictAction)
    return parser.parse_args(['--o', *raw]).o or {}


def load_config(path: str, options: Optional[dict] = None) -> Config:
    if not osp.isfile(path):
        raise FileNotFoundError(f'config file not found: {path}')
    cfg = Config.fromfile(path)
    if options:
        cfg.merge_from_dict(options)
    return cfg


def _type(t: dict) -> str:
    return str(t.get('type', ''))


def find_multiview(pipeline: Sequence[dict]) -> dict:
    """The multi-view transform of a train pipeline (``GeoMultiView`` or ``MultiView``)."""
    for t in pipeline:
        if _type(t) in MULTIVIEW_TYPES:
            return t
    raise ValueError('the train pipeline has no GeoMultiView / MultiView transform; found '
                     f'{[_type(t) for t in pipeline]}')


def view_groups(multiview: dict) -> List[Tuple[int, list]]:
    """``[(num_views, transforms), ...]`` of a GeoMultiView or mmpretrain MultiView config."""
    if _type(multiview).endswith('GeoMultiView'):
        return [(int(g.get('num', 1)), g['transforms']) for g in multiview['views']]
    nums = multiview['num_views']
    nums = [nums] if isinstance(nums, int) else list(nums)
    return list(zip((int(n) for n in nums), multiview['transforms']))


def _crop(transforms: Sequence[dict]) -> dict:
    for t in transforms:
        if _type(t) in CROP_TYPES:
            return t
    raise ValueError('a view group has no (Geo)RandomResizedCrop to read its size from: '
                     f'{[_type(t) for t in transforms]}')


def _hw(scale) -> Tuple[int, int]:
    """A RandomResizedCrop ``scale`` (int or (h, w)) as (h, w)."""
    if isinstance(scale, (int, float)):
        return int(scale), int(scale)
    h, w = scale
    return int(h), int(w)


def train_pipeline(cfg: Config) -> list:
    try:
        return cfg.train_dataloader.dataset.pipeline
    except AttributeError as e:
        raise ValueError('cannot find train_dataloader.dataset.pipeline in the config (wrapped '
                         'datasets are not supported)') from e


def view_spec(cfg: Config, size: Optional[int] = None) -> List[Tuple[int, Tuple[int, int]]]:
    """``[(num, (h, w)), ...]`` per view group of the config's train pipeline.

    ``size`` overrides the first group's output size *in the config* (so ``--data demo`` crops at
    that size too), and that of every other group configured with the same size as the first one
    (e.g. BYOL's second, asymmetric global view); groups of another size (local crops) keep theirs.
    """
    groups = view_groups(find_multiview(train_pipeline(cfg)))
    first = _hw(_crop(groups[0][1])['scale'])
    spec = []
    for num, transforms in groups:
        crop = _crop(transforms)
        hw = _hw(crop['scale'])
        if size is not None and hw == first:
            crop['scale'] = int(size)
            hw = (int(size), int(size))
        spec.append((num, hw))
    return spec


def view_sizes(spec) -> List[Tuple[int, int]]:
    return [hw for num, hw in spec for _ in range(num)]


def describe_views(spec) -> str:
    return ' + '.join(f'{n}x{h}' if h == w else f'{n}x{h}x{w}' for n, (h, w) in spec)


def packed_view_groups(cfg: Config) -> Optional[List[str]]:
    """The group name of every view when the pipeline packs ``view_groups`` (else None)."""
    if not any(_type(t).endswith('PackInputs') and 'view_groups' in (t.get('algorithm_keys') or ())
               for t in train_pipeline(cfg)):
        return None
    multiview = find_multiview(train_pipeline(cfg))
    return [g.get('name', f'group{i}') for i, g in enumerate(multiview['views'])
            for _ in range(int(g.get('num', 1)))]


def packs_geometry(cfg: Config) -> bool:
    for t in train_pipeline(cfg):
        if _type(t).endswith('PackInputs') and 'view_geometry' in (t.get('algorithm_keys') or ()):
            return True
    return False


# -------------------------------------------------------------------------------------- data
def random_batch(sizes: List[Tuple[int, int]], batch: int, with_geometry: bool,
                 rng: np.random.Generator, groups: Optional[Sequence[str]] = None) -> dict:
    """A collated batch as ``default_collate`` + ``PackInputs`` produce it, with random pixels.

    ``view_geometry`` is stored like PackInputs stores it: a (V, 10) float32 numpy array
    ``[x1, y1, x2, y2, flip, out_h, out_w, flags, img_h, img_w]`` per sample (crop boxes in a
    256 x 256 image, no fallback crops); ``groups`` (the group name of each view) is stored as
    ``view_groups`` when given.
    """
    from mmpretrain.structures import DataSample
    inputs = [
        torch.from_numpy(rng.integers(0, 256, (batch, 3, h, w), dtype=np.uint8))
        for h, w in sizes
    ]
    samples = []
    for _ in range(batch):
        ds = DataSample()
        if with_geometry:
            geom = np.zeros((len(sizes), 10), np.float32)
            for v, (h, w) in enumerate(sizes):
                x1, y1 = rng.uniform(0, 128, 2)
                side = rng.uniform(32, 128)
                geom[v] = [x1, y1, x1 + side, y1 + side, float(rng.random() < .5), h, w, 0.,
                           256., 256.]
            ds.set_field(geom, 'view_geometry')
        if groups is not None:
            ds.set_field(tuple(groups), 'view_groups')
        samples.append(ds)
    return dict(inputs=inputs, data_samples=samples)


def make_demo_root(tmpdir: str, num_images: int, image_size: int) -> Dict[str, str]:
    """Synthetic ImageNet-style demo set under ``tmpdir`` (tiny VOC/COCO parts as a side effect)."""
    from densepre.demo import make_demo_data
    return make_demo_data(
        osp.join(tmpdir, 'demo'), num_pretrain=num_images, num_seg_train=1, num_seg_val=1,
        image_size=image_size)


def point_dataset_at_demo(dataset_cfg: dict, demo: Dict[str, str]) -> None:
    dataset_cfg['data_root'] = demo['imagenet']
    dataset_cfg['ann_file'] = 'meta/train.txt'
    dataset_cfg['data_prefix'] = dict(img_path='train/')


def demo_batches(cfg: Config, demo: Dict[str, str], batch: int, num: int,
                 seed: int) -> List[dict]:
    """``num`` batches from the config's own train dataloader (0 workers) on the demo set."""
    from mmengine.runner import Runner
    loader_cfg = copy.deepcopy(cfg.train_dataloader)
    loader_cfg.update(batch_size=batch, num_workers=0, persistent_workers=False)
    loader_cfg.pop('prefetch_factor', None)
    point_dataset_at_demo(loader_cfg['dataset'], demo)
    loader = Runner.build_dataloader(loader_cfg, seed=seed)
    out = []
    while len(out) < num:
        for data in loader:
            out.append(data)
            if len(out) == num:
                break
    return out


# ------------------------------------------------------------------------------------- model
def build_model(cfg: Config) -> torch.nn.Module:
    from densepre.registry import MODELS
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.train()
    return model


MODES = ('fp32', 'bf16', 'fp32-cl', 'bf16-cl')


def cpu_optim_wrapper_cfg(optim_wrapper: dict, mode: str = 'fp32') -> dict:
    """The config's optimizer, paramwise_cfg, clip_grad and accumulative_counts in ``mode``'s
    precision: an fp32 ``OptimWrapper``, or a CPU bf16 ``DenseAmpOptimWrapper``."""
    from densepre.engine.amp import DenseAmpOptimWrapper
    cfg = copy.deepcopy(optim_wrapper)
    for key in ('loss_scale', 'dtype', 'use_fsdp', 'device_type'):
        cfg.pop(key, None)
    if mode.startswith('bf16'):
        cfg.update(type=DenseAmpOptimWrapper, dtype='bfloat16', device_type='cpu')
    elif str(cfg.get('type', 'OptimWrapper')).endswith('AmpOptimWrapper'):
        cfg['type'] = 'OptimWrapper'
    return cfg


def build_optim(model: torch.nn.Module, cfg: Config, mode: str = 'fp32'):
    from mmengine.optim import build_optim_wrapper
    return build_optim_wrapper(model, cpu_optim_wrapper_cfg(cfg.optim_wrapper, mode))


def apply_mode(model: torch.nn.Module, cfg: Config, mode: str) -> torch.nn.Module:
    """Channels-last as ``DenseRunner`` applies it (config ``channels_last`` or a ``-cl`` mode)."""
    from densepre.engine.channels_last import apply_channels_last
    return apply_channels_last(model, mode.endswith('-cl') or bool(cfg.get('channels_last')))


def quiet_logger() -> None:
    """Make a new current MMLogger that shows errors only (MMEngine logs one "<param> is skipped
    since its requires_grad=False" warning per EMA parameter when building an optimizer)."""
    from mmengine.logging import MMLogger
    MMLogger.get_instance(f'densepre_benchmark-{time.time_ns()}', log_level='ERROR')


def prepare_message_hub(max_iters: int = 1000) -> None:
    """The cosine EMA schedule (``EMATeacher``: BYOL, LEWEL_B) reads ``max_iters`` from the
    MessageHub, which outside a Runner nobody sets."""
    from mmengine.logging import MessageHub
    hub = MessageHub.get_current_instance()
    hub.update_info('max_iters', max_iters)
    hub.update_info('iter', 0)


def set_iter(i: int) -> None:
    from mmengine.logging import MessageHub
    MessageHub.get_current_instance().update_info('iter', i)


def check_queue(model, batch: int, name: str) -> None:
    """MoCo's queue is written one batch at a time and asserts ``queue_len % batch == 0``."""
    queue_len = getattr(model, 'queue_len', None)
    if isinstance(queue_len, int) and queue_len % batch:
        raise ValueError(f'{name}: queue_len={queue_len} is not a multiple of --batch {batch}; '
                         'pick a batch that divides it (or set model.queue_len)')


def train_step(model, optim_wrapper, data) -> float:
    """One Runner iteration; returns the loss (raises if not finite)."""
    log_vars = model.train_step(data, optim_wrapper)
    loss = float(log_vars['loss'].detach())
    if not math.isfinite(loss):
        raise FloatingPointError(f'non-finite loss {loss}')
    return loss


class Subject:
    """One config under test: its model, optimizer, batches and measured step times."""

    def __init__(self, label: str, config: str, options: dict, args, tmpdir: str,
                 mode: str = 'fp32'):
        self.label = label
        self.config = config
        self.mode = mode
        self.name = osp.splitext(osp.basename(config))[0]
        self.cfg = load_config(config, options)
        self.spec = view_spec(self.cfg, args.size)
        self.sizes = view_sizes(self.spec)
        self.batches = make_batches(self.cfg, self.sizes, args, tmpdir)
        self.model = apply_mode(build_model(self.cfg), self.cfg, mode)
        check_queue(self.model, args.batch, self.name)
        self.optim_wrapper = build_optim(self.model, self.cfg, mode)
        self.num_params = sum(p.numel() for p in self.model.parameters() if p.requires_grad)
        # before any step, so they see the same weights as the timed model's first step
        self.gmacs = count_gmacs(self.model, self.cfg, self.batches[0]) if args.count_macs \
            else None
        self.bf16_loss = compare_bf16_loss(self.model, self.batches[0]) if args.check_bf16 \
            else None
        self.times: List[float] = []
        self.cpu_times: List[float] = []
        self.losses: List[float] = []

    def step(self, i: int, timed: bool) -> None:
        data = self.batches[i % len(self.batches)]
        set_iter(i)
        c0, t0 = time.process_time(), time.perf_counter()
        loss = train_step(self.model, self.optim_wrapper, data)
        dt, dc = time.perf_counter() - t0, time.process_time() - c0
        self.losses.append(loss)
        if timed:
            self.times.append(dt)
            self.cpu_times.append(dc)


def make_batches(cfg: Config, sizes, args, tmpdir: str) -> List[dict]:
    num = max(1, min(args.warmup + args.iters, args.max_batches))
    if args.data == 'random':
        rng = np.random.default_rng(args.seed)
        groups = packed_view_groups(cfg)
        return [random_batch(sizes, args.batch, packs_geometry(cfg), rng, groups)
                for _ in range(num)]
    demo = make_demo_root(tmpdir, max(2 * args.batch, 16), args.demo_image_size)
    return demo_batches(cfg, demo, args.batch, num, args.seed)


def _forward_loss(model, data) -> float:
    data = model.data_preprocessor(data, True)
    losses = model(**data, mode='loss')
    return float(model.parse_losses(losses)[0])


def compare_bf16_loss(model, data) -> dict:
    """The loss of one batch in fp32 and under bf16 autocast, on two copies of the same weights
    (state, incl. the EMA teacher's first copy, identical)."""
    with torch.no_grad():
        fp32 = _forward_loss(copy.deepcopy(model), data)
        with torch.autocast('cpu', dtype=torch.bfloat16):
            bf16 = _forward_loss(copy.deepcopy(model), data)
    return dict(fp32=round(fp32, 6), bf16=round(bf16, 6),
                rel_diff=round(abs(bf16 - fp32) / abs(fp32), 6))


def count_gmacs(model, cfg: Config, data) -> float:
    """Multiply-adds (GMAC) of one full train step (forward, backward, update, EMA) of a copy of
    ``model``, counted by ``torch.utils.flop_counter.FlopCounterMode`` (convolutions, matmuls,
    their backward; 1 MAC = 2 FLOPs). Elementwise ops (BN, ReLU, softmax, EMA) are not counted:
    this is the dense-arithmetic floor of the step."""
    from torch.utils.flop_counter import FlopCounterMode
    clone = copy.deepcopy(model)
    optim_wrapper = build_optim(clone, cfg)
    counter = FlopCounterMode(display=False)
    with counter:
        clone.train_step(data, optim_wrapper)
    return round(counter.get_total_flops() / 2e9, 3)


# ------------------------------------------------------------------------------------ memory
def _rss_mb() -> float:
    """Current resident set size (MB) from /proc/self/statm."""
    try:
        with open('/proc/self/statm') as f:
            return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE') / 2**20
    except OSError:
        return float('nan')


def _peak_mb() -> float:
    """The process's RSS high-water mark (MB).

    On Linux this is ``VmHWM`` from /proc/self/status: the same counter ``ru_maxrss`` reads, but
    only for the current address space. ``getrusage(RUSAGE_SELF).ru_maxrss`` also keeps the
    high-water mark of the address space the process had *before exec* - for a subprocess forked
    from a benchmark that already holds two models, that is the parent's RSS - so it would hide
    the probe's own peak. Elsewhere fall back to ``ru_maxrss``.
    """
    try:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith('VmHWM:'):
                    return int(line.split()[1]) / 2**10
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == 'darwin' else peak / 2**10  # bytes on macOS, KiB else


def _reset_peak() -> bool:
    """Reset the process's RSS high-water mark to its current RSS (Linux >= 4.0)."""
    try:
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')
        return True
    except OSError:
        return False


def memory_probe(args) -> dict:
    """Run in a fresh process: the peak RSS of building and training one config."""
    with tempfile.TemporaryDirectory(prefix='densepre_bench_') as tmpdir:
        cfg = load_config(args.config, parse_cfg_options(args.cfg_options))
        sizes = view_sizes(view_spec(cfg, args.size))
        batches = make_batches(cfg, sizes, args, tmpdir)
        reset = _reset_peak()
        base = _peak_mb()
        mode = args.modes[0]
        model = apply_mode(build_model(cfg), cfg, mode)
        check_queue(model, args.batch, args.config)
        optim_wrapper = build_optim(model, cfg, mode)
        built = _rss_mb()
        prepare_message_hub()
        for i in range(args.warmup + args.mem_iters):
            set_iter(i)
            train_step(model, optim_wrapper, batches[i % len(batches)])
        peak = _peak_mb()
    return dict(baseline_mb=round(base, 1), peak_rss_mb=round(peak, 1),
                peak_delta_mb=round(peak - base, 1), build_delta_mb=round(built - base, 1),
                steps=args.warmup + args.mem_iters, peak_reset=reset)


def start_memory_probe(config: str, raw_options: List[str], args,
                       mode: str = 'fp32') -> subprocess.Popen:
    """Start :func:`memory_probe` for one config in a fresh subprocess."""
    cmd = [sys.executable, osp.abspath(__file__), config, '--_mem-probe', '--modes', mode,
           '--batch', str(args.batch), '--warmup', str(args.warmup),
           '--mem-iters', str(args.mem_iters), '--data', args.data,
           '--threads', str(args.threads), '--seed', str(args.seed),
           '--max-batches', str(args.max_batches),
           '--demo-image-size', str(args.demo_image_size)]
    if args.size is not None:
        cmd += ['--size', str(args.size)]
    if args.verbose:
        cmd.append('--verbose')
    if raw_options:
        cmd += ['--cfg-options', *raw_options]
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))
    env['PYTHONPATH'] = os.pathsep.join(p for p in (REPO, env.get('PYTHONPATH')) if p)
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def finish_memory_probe(config: str, proc: subprocess.Popen) -> dict:
    """Wait for a probe and parse its tagged JSON line."""
    stdout, stderr = proc.communicate()
    for line in reversed(stdout.splitlines()):
        if line.startswith(MEM_TAG):
            return json.loads(line[len(MEM_TAG):])
    tail = '\n'.join((stderr or stdout).splitlines()[-15:])
    raise RuntimeError(f'memory probe for {config} failed (exit {proc.returncode}):\n{tail}')


# ------------------------------------------------------------------------------------ report
def cpu_bf16() -> bool:
    from densepre.engine.amp import cpu_has_bf16
    return cpu_has_bf16()


def _loadavg() -> Optional[float]:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def summarize(subject: Subject, batch: int) -> dict:
    times = subject.times
    median = statistics.median(times)
    return dict(
        label=subject.label,
        config=subject.config,
        name=subject.name,
        mode=subject.mode,
        views=describe_views(subject.spec),
        num_views=len(subject.sizes),
        input_shapes=[list(x.shape) for x in subject.batches[0]['inputs']],
        params_m=round(subject.num_params / 1e6, 2),
        steps=len(times),
        median_ms=round(median * 1e3, 1),
        mean_ms=round(statistics.fmean(times) * 1e3, 1),
        min_ms=round(min(times) * 1e3, 1),
        max_ms=round(max(times) * 1e3, 1),
        stdev_ms=round(statistics.stdev(times) * 1e3, 1) if len(times) > 1 else 0.0,
        images_per_s=round(batch / median, 2),
        median_cpu_ms=round(statistics.median(subject.cpu_times) * 1e3, 1),
        last_loss=round(subject.losses[-1], 4),
        autocast='bf16' if subject.mode.startswith('bf16') else 'fp32',
        gmacs_per_step=subject.gmacs,
        bf16_vs_fp32_loss=subject.bf16_loss,
        step_times_ms=[round(t * 1e3, 1) for t in times],
    )


def format_table(result: dict) -> str:
    s = result['settings']
    rows = result['results']
    head = ('', 'config', 'mode', 'views', 'params M', 'median ms', 'x first', 'mean ms',
            'min ms', 'images/s', 'CPU ms', 'peak RSS MB', 'peak-base MB')
    lines = [
        f"densepre train-step benchmark  {s['date']}  torch {s['torch']}  "
        f"threads {s['threads']}  batch {s['batch']}  data {s['data']}  "
        f"warmup {s['warmup']}  timed steps {s['iters']}"
        + ('  (interleaved)' if len(rows) > 1 else ''),
        f"1-min load average before / after timing: {s['loadavg_start']} / {s['loadavg_end']} "
        f"on {s['cpu_count']} CPUs",
    ]
    table = [head]
    for r in rows:
        mem = r.get('memory') or {}
        table.append((r['label'], r['name'], r['mode'], r['views'], f"{r['params_m']:.1f}",
                      f"{r['median_ms']:.1f}", f"{r['median_ms'] / rows[0]['median_ms']:.2f}",
                      f"{r['mean_ms']:.1f}", f"{r['min_ms']:.1f}",
                      f"{r['images_per_s']:.2f}", f"{r['median_cpu_ms']:.0f}",
                      f"{mem['peak_rss_mb']:.0f}" if mem else '-',
                      f"{mem['peak_delta_mb']:.0f}" if mem else '-'))
    widths = [max(len(str(row[i])) for row in table) for i in range(len(head))]
    for j, row in enumerate(table):
        lines.append('  '.join(str(c).rjust(w) if i > 3 else str(c).ljust(w)
                               for i, (c, w) in enumerate(zip(row, widths))))
        if j == 0:
            lines.append('  '.join('-' * w for w in widths))
    for r in rows:
        extra = [f"forward {r['autocast']}"]
        if r.get('gmacs_per_step') is not None:
            extra.append(f"{r['gmacs_per_step']:.2f} GMAC per step (conv/matmul floor)")
        if r.get('bf16_vs_fp32_loss'):
            c = r['bf16_vs_fp32_loss']
            extra.append(f"loss fp32 {c['fp32']:.6f} vs bf16 autocast {c['bf16']:.6f} "
                         f"(rel. diff {c['rel_diff']:.2e})")
        lines.append(f"{r['label']}: " + '; '.join(extra))
    if 'ratio_b_over_a_gmacs' in result:
        lines.append(f"ratio B/A of multiply-adds: {result['ratio_b_over_a_gmacs']:.3f}")
    if 'ratio_b_over_a' in result:
        lines.append(f"ratio B/A of median step time: {result['ratio_b_over_a']:.3f}  "
                     f"(of means {result['ratio_b_over_a_mean']:.3f}, of minima "
                     f"{result['ratio_b_over_a_min']:.3f}, median of paired steps "
                     f"{result['ratio_b_over_a_paired']:.3f}, of median CPU times "
                     f"{result['ratio_b_over_a_cpu']:.3f})")
    lines.append('CPU ms: median process CPU time per step (all threads; time other jobs take '
                 'is not in it)')
    if any(r.get('memory') for r in rows):
        lines.append('peak RSS: high-water mark of a fresh subprocess per config (build + '
                     f"{s['warmup']}+{s['mem_iters']} steps); peak-base: minus its RSS after "
                     'imports and data = weights, EMA copies, queue, grads, optimizer state '
                     'and step activations')
    return '\n'.join(lines)


# -------------------------------------------------------------------------------------- main
def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Time full train steps (fwd + bwd + update + EMA/queue) of a config, or of '
        'two configs interleaved (--vs), on CPU.')
    parser.add_argument('config', help='config file (A)')
    parser.add_argument('--vs', metavar='CONFIG2', help='second config (B), steps interleaved')
    parser.add_argument('--batch', type=int, default=8, help='images per step (default 8)')
    parser.add_argument('--iters', type=int, default=10, help='timed steps per config')
    parser.add_argument('--warmup', type=int, default=2, help='untimed steps per config first')
    parser.add_argument('--size', type=int, default=None,
                        help="output size (px) of the first view group (and of the groups "
                        "configured at the same size, e.g. BYOL's second view); default: the "
                        "config's")
    parser.add_argument('--threads', type=int, default=None,
                        help='torch intra-op threads (default: torch default = cores)')
    parser.add_argument('--data', choices=['random', 'demo'], default='random',
                        help='random uint8 batches, or real batches of the config pipeline '
                        'on synthetic demo data in a temp dir')
    parser.add_argument('--demo-image-size', type=int, default=96,
                        help='shorter side of the demo images (they are 1-2x this)')
    parser.add_argument('--max-batches', type=int, default=8,
                        help='distinct batches prepared per config (reused cyclically)')
    parser.add_argument('--mem', choices=['subprocess', 'none'], default='subprocess',
                        help='measure peak RSS per config in a fresh subprocess (default), or not')
    parser.add_argument('--mem-iters', type=int, default=2,
                        help='steps after warmup in the memory subprocess')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--cfg-options', nargs='+', default=[], metavar='KEY=VALUE',
                        help='overrides for both configs (MMEngine syntax)')
    parser.add_argument('--vs-cfg-options', nargs='+', default=[], metavar='KEY=VALUE',
                        help='extra overrides for the --vs config only')
    parser.add_argument('--count-macs', action='store_true',
                        help='count the multiply-adds of one train step per config '
                        '(torch FlopCounterMode)')
    parser.add_argument('--check-bf16', action='store_true',
                        help='loss of the first batch in fp32 and under bf16 autocast, per '
                        'config (same weights)')
    parser.add_argument('--modes', nargs='+', choices=MODES, default=['fp32'],
                        help='precision / memory format of each config, interleaved: fp32, '
                        'bf16 (CPU autocast), and -cl = channels-last (default: fp32)')
    parser.add_argument('--json', metavar='OUT', help='also write the results as JSON')
    parser.add_argument('--verbose', action='store_true', help='show MMEngine warnings')
    parser.add_argument('--_mem-probe', dest='mem_probe', action='store_true',
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    for key in ('batch', 'iters', 'max_batches'):
        if getattr(args, key) < 1:
            parser.error(f'--{key.replace("_", "-")} must be >= 1')
    if args.warmup < 0 or args.mem_iters < 0:
        parser.error('--warmup / --mem-iters must be >= 0')
    if args.threads is not None and args.threads < 1:
        parser.error('--threads must be >= 1')
    if args.size is not None and args.size < 1:
        parser.error('--size must be >= 1')
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    args.threads = torch.get_num_threads()
    from densepre.utils import register_all_modules
    register_all_modules()
    if not args.verbose:
        # e.g. one "<param> is skipped since its requires_grad=False" line per EMA parameter
        quiet_logger()
        warnings.filterwarnings('ignore', message="Only use 'alpha' for pillow backend")
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)

    if args.mem_probe:
        print(MEM_TAG + json.dumps(memory_probe(args)), flush=True)
        return {}

    configs = [('A', args.config, list(args.cfg_options))]
    if args.vs:
        configs.append(('B', args.vs, list(args.cfg_options) + list(args.vs_cfg_options)))
    runs = [(label if len(args.modes) == 1 else f'{label}{i + 1}', cfg, raw, mode)
            for label, cfg, raw in configs for i, mode in enumerate(args.modes)]
    prepare_message_hub()
    load_start = _loadavg()
    tmpdir = tempfile.mkdtemp(prefix='densepre_bench_')
    try:
        subjects = [Subject(label, cfg, parse_cfg_options(raw), args, tmpdir, mode)
                    for label, cfg, raw, mode in runs]
        for i in range(args.warmup + args.iters):
            # rotate which model goes first so none always follows the same other one
            order = subjects[i % len(subjects):] + subjects[:i % len(subjects)]
            order = order if i % 2 == 0 else order[::-1]
            for s in order:
                s.step(i, timed=i >= args.warmup)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)

    load_end = _loadavg()
    results = [summarize(s, args.batch) for s in subjects]
    del subjects
    if args.mem == 'subprocess':
        # after the timing phase; the probes run concurrently (peak RSS is per process, so they
        # do not disturb each other's figure, only each other's speed)
        # (one after the other when there are many: concurrent R50 probes would swap and crawl)
        if len(runs) <= 2:
            procs = [start_memory_probe(cfg, raw, args, mode) for _, cfg, raw, mode in runs]
            for r, (_, cfg, _, _), proc in zip(results, runs, procs):
                r['memory'] = finish_memory_probe(cfg, proc)
        else:
            for r, (_, cfg, raw, mode) in zip(results, runs):
                r['memory'] = finish_memory_probe(cfg, start_memory_probe(cfg, raw, args, mode))
    out = dict(
        settings=dict(
            date=datetime.datetime.now().astimezone().isoformat(timespec='seconds'),
            host=platform.node(), cpu_count=os.cpu_count(), threads=args.threads,
            loadavg_start=load_start, loadavg_end=load_end,
            torch=torch.__version__, batch=args.batch, iters=args.iters, warmup=args.warmup,
            mem_iters=args.mem_iters, size=args.size, data=args.data, seed=args.seed,
            modes=args.modes, cpu_bf16=cpu_bf16(),
            cfg_options=args.cfg_options, vs_cfg_options=args.vs_cfg_options,
            command=' '.join(['python', 'tools/analysis_tools/benchmark_train_step.py'] +
                             list(sys.argv[1:] if argv is None else argv))),
        results=results)
    first = results[0]
    for r in results:  # ratios against the first row (the baseline), measured in this run
        r['x_first'] = round(r['median_ms'] / first['median_ms'], 4)
        r['x_first_paired'] = round(statistics.median(
            t / t0 for t0, t in zip(first['step_times_ms'], r['step_times_ms'])), 4)
        mem, mem0 = r.get('memory'), first.get('memory')
        if mem and mem0:
            r['x_first_peak_delta'] = round(mem['peak_delta_mb'] / mem0['peak_delta_mb'], 4)
    if len(results) == 2:
        a, b = results
        out['ratio_b_over_a'] = round(b['median_ms'] / a['median_ms'], 4)
        out['ratio_b_over_a_mean'] = round(b['mean_ms'] / a['mean_ms'], 4)
        out['ratio_b_over_a_min'] = round(b['min_ms'] / a['min_ms'], 4)
        out['ratio_b_over_a_cpu'] = round(b['median_cpu_ms'] / a['median_cpu_ms'], 4)
        if a['gmacs_per_step'] and b['gmacs_per_step']:
            out['ratio_b_over_a_gmacs'] = round(b['gmacs_per_step'] / a['gmacs_per_step'], 4)
        # step i of B ran right after / before step i of A: the median of these paired ratios
        # is the least sensitive to load that changes over the run
        out['ratio_b_over_a_paired'] = round(statistics.median(
            tb / ta for ta, tb in zip(a['step_times_ms'], b['step_times_ms'])), 4)
    print(format_table(out), flush=True)
    write_json(args.json, out)
    return out


if __name__ == '__main__':
    main()
