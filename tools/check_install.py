"""Prove that this install of densepre works on the machine it runs on (issue 21).

    python tools/check_install.py [--device auto|cpu|cuda] [--gpus N] [--amp auto|fp16|bf16|off]
                                  [--methods all|none|NAME...] [--json OUT]

1. **Environment**: versions of torch / torchvision / mmcv / mmengine / mmpretrain / mmseg / mmdet
   against the tested pins (requirements/*.txt, tools/install.sh); CUDA, cuDNN, NCCL; bf16 / fp16
   support; mmcv's compiled ops (RoIAlign, NMS, deformable convolution) *run on the device* and
   are compared with references computed independently (bilinear sampling of a linear ramp is
   exact, a brute-force NMS, a deformable convolution with zero offsets is a convolution).
2. **Every method** (its tiny CI config, synthetic images written on the fly), on the device, in
   fp32 and in the device's AMP mode (fp16 + GradScaler on CUDA; on CPU the fp16 stand-in),
   :data:`ITERS` one-iteration epochs and a resume of the last one: losses finite;
   the first iteration's loss terms equal the stored CPU fp32 references
   (:data:`REFERENCES`, written by ``--write-references``) within :data:`TOLERANCE` of the dtype;
   the EMA teacher and the queues moved; the GradScaler did not skip every step; channels-last
   model and inputs in the AMP run (``channels_last = True``, the fast path); resuming the
   epoch-1 checkpoint gives the uninterrupted run's next loss.
3. **Distributed** (``--gpus N > 1``; ``--device cpu --gpus 2`` uses gloo): the methods again
   through ``torchrun`` with a short collective timeout: logged loss and queues equal on every
   rank, weights in sync, ShuffleBN used, SyncBN (GPU only), distributed Sinkhorn equal to the
   whole-batch one.
4. **Transfer**: one FCN and one Faster R-CNN C4 iteration on the device from the MoCo v2
   checkpoint just trained, after densepre's complete-loading verification.
5. A table method x check (``ok`` / ``FAIL [n]`` with the reasons below it, ``n/a``) and the step
   time per method; exit status 1 if anything failed; ``--json OUT`` writes everything.

The model is built and initialised on the CPU (from the config's seed) and then moved to the
device, so the device starts from exactly the weights of the stored references; in fp32 mode TF32
is switched off on CUDA so fp32 means fp32. See docs/check_install.md for what a GPU run checks
that the CPU mode cannot.
"""
import argparse
import json
import math
import os
import os.path as osp
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import traceback
from collections import OrderedDict

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

#: name -> (label, tiny config). The tiny configs are the CI ones (ResNet-18 / 2-layer ViT).
METHODS = OrderedDict([
    ('mocov2', ('MoCo v2', 'tests/configs/mocov2_r18_tiny.py')),
    ('byol', ('BYOL', 'tests/configs/byol_r18_tiny.py')),
    ('lewel_b', ('LEWEL_B', 'tests/configs/lewel_b_r18_tiny.py')),
    ('lewel_m', ('LEWEL_M', 'tests/configs/lewel_m_r18_tiny.py')),
    ('clove', ('CLoVE', 'tests/configs/clove_r18_tiny.py')),
    ('mocov2_mc', ('MoCo-MC', 'tests/configs/mocov2-mc_r18_tiny.py')),
    ('knn_moco', ('kNN-MoCo', 'tests/configs/knn-mocov2_r18_tiny.py')),
    ('loca', ('LOCA', 'tests/configs/loca_vit_tiny.py')),
])
#: randomness drawn inside the model from the *device's* RNG (a GPU's differs from the CPU's, so
#: the first iteration could not equal the CPU reference): LOCA's stochastic depth and query
#: token dropping are off here (tests/test_loca*.py exercise them)
DEVICE_RNG_FREE = {'loca': {'model.backbone.drop_path_rate': 0.0, 'model.query_keep_tokens': 16}}
REFERENCES = osp.join(REPO, 'tools', 'check_install_references.json')
#: |got - ref| <= atol + rtol * |ref| for the first iteration's loss terms. A device sanity check,
#: not bit identity: fp32 differs across CPUs / GPUs by summation order (~1e-6 relative);
#: fp16 / bf16 round every convolution (measured on this CPU: fp16 <= 0.3 %, bf16 <= 3 %).
TOLERANCE = {'float32': (1e-3, 1e-4), 'float16': (2e-2, 2e-3), 'bfloat16': (1e-1, 1e-2)}
#: a resumed run repeats the uninterrupted one (same weights, optimizer, RNG, batch)
RESUME_TOLERANCE = {'float32': (1e-4, 1e-5), 'float16': (1e-2, 1e-3), 'bfloat16': (1e-2, 1e-3)}
#: iterations (one per epoch: epoch 2 starts kNN-MoCo's kNN loss). AMP runs are longer: the
#: dynamic GradScaler starts at 2^16 and halves on every overflowing step (normal for the first
#: steps: the tiny MoCo v2's largest gradient is ~13, so steps run from scale 2^12 on)
ITERS = {'float32': 3, 'float16': 8, 'bfloat16': 8}
#: the CPU fp16 stand-in is ~20x slower than fp32 (no oneDNN fp16 kernels): 4 iterations, with
#: the dynamic scaling starting at 2^12 instead of 2^16 (the same backoff / growth mechanics)
CPU_FP16_ITERS, CPU_FP16_INIT_SCALE = 4, 2.0**12
BATCH = 4
DIST_TIMEOUT = 120  # seconds: a rank that hangs in a collective fails the check after this
#: logged values that are counts / indicators rather than losses: compared exactly in fp32 only
NOT_LOSSES = ('crop_fallbacks', 'knn_active', 'intersecting', 'position_accuracy',
              'matches_per_pair')
CHECKS = ('finite', 'reference', 'ema', 'queue', 'grad_scaler', 'channels_last', 'resume',
          'distributed')
PINNED = ('torch', 'torchvision', 'mmcv', 'mmengine', 'mmpretrain', 'mmsegmentation', 'mmdet',
          'numpy', 'opencv-python')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Check that this densepre install trains every method on this machine')
    parser.add_argument('--device', choices=['auto', 'cpu', 'cuda'], default='auto')
    parser.add_argument('--gpus', type=int, default=1,
                        help='processes for the distributed check (torchrun); 1 = skip it. '
                        'With --device cpu, N gloo processes')
    parser.add_argument('--amp', choices=['auto', 'fp16', 'bf16', 'off'], default='auto',
                        help='AMP mode besides fp32: auto = fp16 + GradScaler (CUDA) / the fp16 '
                        'stand-in (CPU); off = fp32 only')
    parser.add_argument('--methods', nargs='+', default=['all'],
                        help=f'all, none or some of {", ".join(METHODS)}')
    parser.add_argument('--json', help='write the full results to this file')
    parser.add_argument('--skip', nargs='+', default=[], choices=['ops', 'transfer'],
                        help='leave out the mmcv op checks / the transfer iterations')
    parser.add_argument('--references', default=REFERENCES,
                        help='stored CPU fp32 references (default: %(default)s)')
    parser.add_argument('--write-references', action='store_true',
                        help='run the methods on CPU in fp32 and write their first-iteration '
                        'loss terms to --references (maintainers, after a deliberate change)')
    parser.add_argument('--work-dir', help='keep the runs here (default: a temporary dir)')
    parser.add_argument('--dist-worker', help=argparse.SUPPRESS)  # internal: torchrun rank
    args = parser.parse_args(argv)
    if args.methods == ['all']:
        args.methods = list(METHODS)
    elif args.methods == ['none']:
        args.methods = []
    unknown = [m for m in args.methods if m not in METHODS]
    if unknown:
        parser.error(f'unknown method(s) {unknown}; choose from all, none, {", ".join(METHODS)}')
    if args.gpus < 1:
        parser.error('--gpus must be >= 1')
    if args.write_references:
        if args.device == 'cuda':
            parser.error('--write-references runs on the CPU (the references are CPU fp32)')
        args.device, args.amp, args.gpus = 'cpu', 'off', 1
    return args


# ---------------------------------------------------------------------------------- helpers
class Result(OrderedDict):
    """check -> dict(status='ok' | 'FAIL' | 'n/a', reason=str)."""

    def set(self, check, ok, reason=''):
        if ok is None:
            self[check] = dict(status='n/a', reason=reason)
        elif ok:
            self[check] = dict(status='ok', reason=reason)
        else:
            self[check] = dict(status='FAIL', reason=reason)

    def fail(self, check, reason):
        prev = self.get(check)
        if prev and prev['status'] == 'FAIL' and reason in prev['reason']:
            return
        if prev and prev['status'] == 'FAIL':
            reason = prev['reason'] + '; ' + reason
        self[check] = dict(status='FAIL', reason=reason)

    def ok_unless_failed(self, check, reason=''):
        if self.get(check, {}).get('status') != 'FAIL':
            self[check] = dict(status='ok', reason=reason)


def close(a, b, tol):
    rtol, atol = tol
    return math.isfinite(a) and abs(a - b) <= atol + rtol * abs(b)


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def short_error(exc):
    text = f'{type(exc).__name__}: {exc}'.strip().replace('\n', ' ')
    return text if len(text) < 300 else text[:300] + ' ...'


# ---------------------------------------------------------------------------------- 1. environment
def read_pins():
    """Package -> pinned version from requirements/*.txt and tools/install.sh (mmcv)."""
    pins = {}
    for name in ('torch.txt', 'runtime.txt'):
        path = osp.join(REPO, 'requirements', name)
        if not osp.isfile(path):
            continue
        for line in open(path):
            m = re.match(r'\s*([A-Za-z0-9_.\-]+)\s*==\s*([^\s#;]+)', line)
            if m:
                pins[m.group(1).lower()] = m.group(2)
    install = osp.join(REPO, 'tools', 'install.sh')
    if osp.isfile(install):
        m = re.search(r'^mmcv_version=([\w.]+)', open(install).read(), re.M)
        if m:
            pins['mmcv'] = m.group(1)
    return pins


def environment(device):
    import importlib.metadata as md

    import torch

    from densepre.engine.amp import cpu_has_bf16
    pins = read_pins()
    versions = OrderedDict()
    for pkg in PINNED:
        try:
            have = md.version(pkg)
        except md.PackageNotFoundError:
            have = None
        want = pins.get(pkg)
        base = have.split('+')[0] if have else None  # 2.14.1+cu128 is the 2.14.1 pin
        versions[pkg] = dict(version=have, pinned=want,
                             tested=None if want is None else base == want)
    info = OrderedDict(python=sys.version.split()[0], versions=versions, device=device)
    info['cuda_available'] = torch.cuda.is_available()
    info['torch_cuda'] = torch.version.cuda
    info['cudnn'] = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    try:
        nccl = torch.cuda.nccl.version() if torch.cuda.is_available() else None
        info['nccl'] = '.'.join(map(str, nccl)) if isinstance(nccl, tuple) else nccl
    except Exception:  # noqa: BLE001 - a torch build without NCCL
        info['nccl'] = None
    if device == 'cuda':
        info['gpu'] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        info['bf16'] = torch.cuda.is_bf16_supported()
        info['fp16'] = True
    else:
        info['bf16'] = cpu_has_bf16()
        info['fp16'] = 'stand-in only (oneDNN has no fast CPU fp16)'
    try:
        import mmcv
        from mmcv.utils import ext_loader  # noqa: F401
        info['mmcv_ops_compiled'] = True
        info['mmcv_cuda_ops'] = _mmcv_cuda_compiled()
        info['mmcv'] = mmcv.__version__
    except Exception as exc:  # noqa: BLE001
        info['mmcv_ops_compiled'] = short_error(exc)
    return info


def _mmcv_cuda_compiled():
    try:
        from mmcv.ops import get_compiling_cuda_version
        v = get_compiling_cuda_version()
        return None if v in ('not available', '') else v
    except Exception:  # noqa: BLE001
        return None


def check_ops(device):
    """mmcv's compiled ops run on ``device`` and give the independently computed answers."""
    import torch
    import torch.nn.functional as F
    out = Result()
    try:
        import mmcv.ops as ops
    except Exception as exc:  # noqa: BLE001
        for name in ('roi_align', 'nms', 'deform_conv'):
            out.fail(name, f'mmcv.ops does not import: {short_error(exc)} (mmcv-lite? run '
                     'tools/install.sh, MMCV_CUDA=1 on GPU machines)')
        return out
    dev = torch.device(device)

    # RoIAlign on a linear ramp f(y, x) = 2x + 3y + 1: bilinear interpolation of a linear
    # function is exact, so each bin's mean is f at the bin centre (aligned=True: pixel centres).
    try:
        h, w = 16, 20
        ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32),
                                torch.arange(w, dtype=torch.float32), indexing='ij')
        feat = (2 * xs + 3 * ys + 1)[None, None].repeat(1, 2, 1, 1)
        feat[:, 1] *= -1
        rois = torch.tensor([[0, 2., 3., 10., 9.], [0, 4.5, 1.5, 15., 12.5]])
        got = ops.roi_align(feat.to(dev), rois.to(dev), (3, 4), 1.0, 2, 'avg', True).cpu()
        ref = torch.empty(2, 2, 3, 4)
        for i, (_, x1, y1, x2, y2) in enumerate(rois.tolist()):
            cx = x1 + (torch.arange(4) + 0.5) * (x2 - x1) / 4 - 0.5
            cy = y1 + (torch.arange(3) + 0.5) * (y2 - y1) / 3 - 0.5
            ref[i, 0] = 2 * cx[None, :] + 3 * cy[:, None] + 1
            ref[i, 1] = -ref[i, 0]
        err = (got - ref).abs().max().item()
        out.set('roi_align', err < 1e-4, f'max error {err:.2e} vs the exact bilinear mean')
    except Exception as exc:  # noqa: BLE001
        out.fail('roi_align', short_error(exc))

    # NMS against a brute-force greedy suppression
    try:
        g = torch.Generator().manual_seed(0)
        xy = torch.rand(64, 2, generator=g) * 50
        wh = torch.rand(64, 2, generator=g) * 20 + 2
        boxes = torch.cat([xy, xy + wh], 1)
        scores = torch.rand(64, generator=g)
        _, keep = ops.nms(boxes.to(dev), scores.to(dev), 0.3)
        ref = _nms_reference(boxes, scores, 0.3)
        out.set('nms', keep.cpu().tolist() == ref,
                f'kept {len(keep)} boxes, brute force keeps {len(ref)}'
                + ('' if keep.cpu().tolist() == ref else ' (different boxes)'))
    except Exception as exc:  # noqa: BLE001
        out.fail('nms', short_error(exc))

    # deformable convolution with zero offsets (and a unit mask) is a plain convolution
    if not hasattr(ops, 'DeformConv2d'):
        out.set('deform_conv', None, 'mmcv has no deformable ops')
        return out
    try:
        torch.manual_seed(0)
        x = torch.randn(2, 4, 9, 9)
        conv = ops.DeformConv2d(4, 6, 3, padding=1)
        offset = torch.zeros(2, 18, 9, 9)
        got = conv.to(dev)(x.to(dev), offset.to(dev)).cpu()
        ref = F.conv2d(x, conv.weight.detach().cpu(), padding=1)
        err = (got - ref).abs().max().item()
        res = [f'DeformConv2d {err:.1e}']
        ok = err < 1e-4
        if hasattr(ops, 'ModulatedDeformConv2d'):
            mconv = ops.ModulatedDeformConv2d(4, 6, 3, padding=1, bias=False)
            mask = torch.ones(2, 9, 9, 9)
            got = mconv.to(dev)(x.to(dev), offset.to(dev), mask.to(dev)).cpu()
            err = (got - F.conv2d(x, mconv.weight.detach().cpu(), padding=1)).abs().max().item()
            res.append(f'ModulatedDeformConv2d {err:.1e}')
            ok = ok and err < 1e-4
        out.set('deform_conv', ok, 'max error vs a convolution: ' + ', '.join(res))
    except Exception as exc:  # noqa: BLE001
        msg = short_error(exc)
        if device == 'cpu' and 'cpu' in msg.lower() and 'implement' in msg.lower():
            out.set('deform_conv', None, f'no CPU implementation in this mmcv ({msg})')
        else:
            out.fail('deform_conv', msg)
    return out


def _nms_reference(boxes, scores, thr):
    order = sorted(range(len(scores)), key=lambda i: -float(scores[i]))
    keep = []
    for i in order:
        if all(_iou(boxes[i], boxes[j]) <= thr for j in keep):
            keep.append(i)
    return keep


def _iou(a, b):
    a, b = a.tolist(), b.tolist()
    iw = max(0., min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0., min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union


# ---------------------------------------------------------------------------------- 2. methods
def make_data(root):
    """The synthetic images every check trains on (same arguments = same pixels = the stored
    references hold)."""
    from densepre.demo import make_demo_data
    return make_demo_data(root, num_pretrain=16, num_seg_train=4, num_seg_val=2, num_det_train=8,
                          image_size=48)  # 8 COCO images: kNN-MoCo on 2 ranks x batch 4


def method_config(name, mode, work_dir, data_root, run_id, channels_last=False,
                  launcher='none', device='cpu'):
    """The tiny config of ``name`` for ``mode`` ('float32' / 'float16' / 'bfloat16')."""
    from mmengine.config import Config
    cfg = Config.fromfile(osp.join(REPO, METHODS[name][1]))
    cfg.merge_from_dict(DEVICE_RNG_FREE.get(name, {}))
    cfg.work_dir = work_dir
    cfg.experiment_name = f'check_install_{run_id}'
    cfg.log_level = 'ERROR'
    cfg.launcher = launcher
    loader = cfg.train_dataloader
    loader.batch_size = BATCH
    loader.num_workers = 0
    loader.persistent_workers = False
    # ImageNet-layout list, or COCO images (the Revisiting configs' CocoImages)
    sub = 'coco' if 'Coco' in str(loader.dataset.get('type', '')) else 'imagenet'
    loader.dataset.data_root = osp.join(data_root, sub, '')
    world = int(os.environ.get('WORLD_SIZE', 1)) if launcher != 'none' else 1
    loader.dataset.indices = BATCH * world  # one iteration per epoch
    epochs = num_iters(mode, device)
    cfg.train_cfg.max_epochs = epochs
    cfg.param_scheduler = [dict(type='CosineAnnealingLR', T_max=epochs, by_epoch=True, begin=0,
                                end=epochs)]
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=1)
    # two checkpoints: epoch_<E-1> (resumed by the check) and the last one (transfer)
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=epochs - 1,
                                        save_last=True, max_keep_ckpts=2)
    hooks = [h for h in cfg.get('custom_hooks', []) if h.get('type') in (
        'GlobalLossLogHook', 'FiniteLossHook')]
    if not any(h.get('type') == 'GlobalLossLogHook' for h in hooks):
        hooks.append(dict(type='GlobalLossLogHook'))  # the logged loss is the global batch's
    cfg.custom_hooks = hooks
    cfg.randomness = dict(seed=0)
    ow = cfg.optim_wrapper
    if mode == 'float32':
        ow.type = 'OptimWrapper'
        for key in ('loss_scale', 'dtype', 'use_fsdp'):
            ow.pop(key, None)
    else:
        ow.type = 'AmpOptimWrapper'
        ow.setdefault('loss_scale', 'dynamic')
        ow.dtype = mode
        if device == 'cpu' and mode == 'float16' and ow.loss_scale == 'dynamic':
            ow.loss_scale = dict(init_scale=CPU_FP16_INIT_SCALE)
    cfg.channels_last = channels_last
    if launcher != 'none':
        backend = 'nccl' if device == 'cuda' else 'gloo'
        cfg.env_cfg = dict(cfg.get('env_cfg', {}),
                           dist_cfg=dict(backend=backend, timeout=DIST_TIMEOUT))
        if device == 'cuda':  # the paper configs' SyncBN (reverted to BN on CPU / 1 process)
            _set_norm(cfg.model, 'SyncBN')
    return cfg


def num_iters(mode, device):
    return CPU_FP16_ITERS if (device == 'cpu' and mode == 'float16') else ITERS[mode]


def _set_norm(model_cfg, norm):
    """ResNet backbones (BN by default) and necks with a BN ``norm_cfg`` -> ``norm``."""
    for key in ('backbone', 'neck'):
        part = model_cfg.get(key)
        if not isinstance(part, dict):
            continue
        current = part.get('norm_cfg')
        resnet = key == 'backbone' and str(part.get('type', '')).startswith('ResNet')
        if (isinstance(current, dict) and current.get('type') in ('BN', 'SyncBN')) or (
                current is None and resnet):
            part['norm_cfg'] = dict(type=norm)


def check_runner_class():
    from mmengine.hooks import Hook

    from densepre.engine.runner import DenseRunner

    class CheckRunner(DenseRunner):
        """Builds and initialises the model on the CPU (the config's seed), so every device
        starts from the CPU references' weights; the Runner then moves it to the device (its
        own ``init_weights`` call finds the model initialised and leaves it)."""

        def build_model(self, model):
            model = super().build_model(model)
            if hasattr(model, 'init_weights'):
                model.init_weights()
            return model

    class Recorder(Hook):
        """Per-iteration loss terms and step times; teacher / queue / optimizer-step / layout
        facts for the checks."""
        priority = 'LOWEST'

        def __init__(self, stop_after=None):
            self.iters, self.times, self.steps = [], [], 0
            self.stop_after = stop_after
            self.first_conv = {}

        def before_train(self, runner):
            import torch
            model = _unwrap(runner.model)
            self.teachers_before = _teacher_state(model)
            self.queues_before = _queue_state(model)
            opt = runner.optim_wrapper.optimizer
            inner = opt.step

            def counted(*args, **kwargs):
                self.steps += 1
                return inner(*args, **kwargs)

            opt.step = counted
            self.scaler = getattr(runner.optim_wrapper, 'loss_scaler', None)
            self.cast_dtype = getattr(runner.optim_wrapper, 'cast_dtype', torch.float32)
            conv = next((m for m in model.backbone.modules()
                         if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))), None)
            if conv is not None:
                def hook(module, args, output):
                    if not self.first_conv:
                        x = args[0]
                        self.first_conv.update(
                            out_dtype=str(output.dtype).replace('torch.', ''),
                            input_channels_last=x.dim() == 4 and x.is_contiguous(
                                memory_format=torch.channels_last) and x.shape[1] > 1,
                            input_dim=x.dim())
                self._handle = conv.register_forward_hook(hook)

        def before_train_iter(self, runner, batch_idx, data_batch=None):
            self._t0 = time.perf_counter()

        def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
            import torch
            values = {k: float(v.detach().float().mean()) if isinstance(v, torch.Tensor)
                      else float(v) for k, v in (outputs or {}).items()}
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            self.times.append(time.perf_counter() - self._t0)
            self.iters.append(dict(iter=runner.iter + 1, **values))
            if self.stop_after is not None and len(self.iters) >= self.stop_after:
                raise StopCheck()

        def after_train(self, runner):
            model = _unwrap(runner.model)
            self.teachers_after = _teacher_state(model)
            self.queues_after = _queue_state(model)
            self.model = model
            if hasattr(self, '_handle'):
                self._handle.remove()

    return CheckRunner, Recorder


class StopCheck(Exception):
    """Raised by the recorder to end a resumed run after the iteration it compares."""


def _unwrap(model):
    from mmengine.model import is_model_wrapper
    return model.module if is_model_wrapper(model) else model


def _teacher_state(model):
    from densepre.models.utils.ema import EMATeacher
    return {name: {k: v.detach().float().cpu().clone() for k, v in m.module.named_parameters()}
            for name, m in model.named_modules() if isinstance(m, EMATeacher)}


def _queue_state(model):
    from densepre.models.utils.feature_queue import FeatureQueue
    return {name: dict(queue=m.queue.detach().float().cpu().clone(), ptr=int(m.ptr),
                       filled=int(m.filled))
            for name, m in model.named_modules() if isinstance(m, FeatureQueue)}


def train_once(name, mode, work_dir, data_root, run_id, channels_last=False, resume_from=None,
               launcher='none', device='cpu', stop_after=None):
    """One Runner run; returns the recorder (and the runner's model)."""
    import torch
    CheckRunner, Recorder = check_runner_class()
    cfg = method_config(name, mode, work_dir, data_root, run_id, channels_last, launcher, device)
    if resume_from:
        cfg.resume, cfg.load_from = True, resume_from
    if mode == 'float32' and device == 'cuda':  # fp32 means fp32 (not TF32) on Ampere+
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    runner = CheckRunner.from_cfg(cfg)
    recorder = Recorder(stop_after)
    runner.register_hook(recorder)
    try:
        runner.train()
    except StopCheck:
        pass
    return recorder


def check_method(name, mode, device, work, data_root, refs, result, stats):
    """Train ``name`` in ``mode`` and fill ``result`` (a :class:`Result`)."""
    import torch
    tag = {'float32': 'fp32', 'float16': 'fp16', 'bfloat16': 'bf16'}[mode]
    amp = mode != 'float32'
    wd = osp.join(work, f'{name}_{tag}')
    try:
        rec = train_once(name, mode, wd, data_root, f'{name}_{tag}', channels_last=amp,
                         device=device)
    except Exception as exc:  # noqa: BLE001
        result.fail('finite', f'{tag}: training failed: {short_error(exc)}')
        traceback.print_exc()
        return None
    warm = sorted(rec.times[1:] or rec.times)  # the first iteration builds caches
    stats.setdefault('step_ms', {})[tag] = 1000 * warm[len(warm) // 2]

    # finite
    bad = [(r['iter'], k) for r in rec.iters for k, v in r.items() if not math.isfinite(v)]
    if bad or len(rec.iters) != num_iters(mode, device):
        result.fail('finite', f'{tag}: non-finite {bad[:3]}' if bad else
                    f'{tag}: {len(rec.iters)} iterations ran, expected '
                    f'{num_iters(mode, device)}')
    else:
        result.ok_unless_failed('finite')

    # the first iteration against the stored CPU fp32 reference
    ref = (refs or {}).get(name)
    first = dict(rec.iters[0]) if rec.iters else {}
    offset = loss_offset(name)
    if ref and offset:  # compare the part of the loss above the constant ({} when writing)
        ref = dict(ref, loss=ref['loss'] - offset)
        first['loss'] = first.get('loss', float('nan')) - offset
    if ref is None:
        result.fail('reference', f'no stored reference for {name} in the references file')
    else:
        tol = TOLERANCE[mode]
        keys = [k for k in ref if not (amp and k in NOT_LOSSES)]
        wrong = [f'{k} {first.get(k, float("nan")):.5g} vs {ref[k]:.5g}' for k in keys
                 if not close(first.get(k, float('nan')), ref[k], tol)]
        dev = max((abs(first.get(k, float('nan')) - ref[k]) / max(abs(ref[k]), 1e-12)
                   for k in keys), default=0.0)
        stats.setdefault('reference_deviation', {})[tag] = dev
        if wrong:
            result.fail('reference', f'{tag} (rtol {tol[0]:g}, atol {tol[1]:g}): '
                        + ', '.join(wrong[:3]))
        else:
            result.ok_unless_failed('reference')

    # EMA teacher and queues moved
    if not rec.teachers_before:
        result.set('ema', None, 'no EMA teacher')
    else:
        still = [n for n, before in rec.teachers_before.items()
                 if all(torch.equal(before[k], rec.teachers_after[n][k]) for k in before)]
        if still:
            result.fail('ema', f'{tag}: EMA teacher {still} did not move in '
                        f'{len(rec.iters)} iterations')
        else:
            result.ok_unless_failed('ema')
    if not rec.queues_before:
        result.set('queue', None, 'no queue')
    else:
        still = [n for n, b in rec.queues_before.items()
                 if torch.equal(b['queue'], rec.queues_after[n]['queue'])
                 or b['filled'] == rec.queues_after[n]['filled'] == 0]
        if still:
            result.fail('queue', f'{tag}: queue {still} did not move')
        else:
            result.ok_unless_failed('queue')

    # optimizer steps: all of them in fp32; with a GradScaler not all skipped
    if rec.scaler is None:
        if rec.steps != len(rec.iters):
            result.fail('grad_scaler', f'{tag}: {rec.steps} optimizer steps for '
                        f'{len(rec.iters)} iterations')
        elif amp and rec.cast_dtype == torch.float16:
            result.fail('grad_scaler', f'{tag}: fp16 without a GradScaler')
        elif 'grad_scaler' not in result:
            result.set('grad_scaler', None, f'{tag}: no GradScaler, {rec.steps} steps')
    else:
        if rec.steps == 0:
            result.fail('grad_scaler', f'{tag}: the GradScaler skipped all {len(rec.iters)} '
                        f'steps (scale now {rec.scaler.get_scale():g})')
        else:
            result.ok_unless_failed('grad_scaler', f'{rec.steps}/{len(rec.iters)} steps taken, '
                                    f'scale {rec.scaler.get_scale():g}')
    if amp:
        want = str(rec.cast_dtype).replace('torch.', '')
        if rec.first_conv.get('out_dtype') != mode or want != mode:
            result.fail('grad_scaler', f'{tag}: autocast did not run in {mode} (first layer '
                        f'output {rec.first_conv.get("out_dtype")}, wrapper {want})')

    # channels-last (the AMP run asks for it)
    if channels_last_applies(name) and amp:
        convs = [m.weight for m in rec.model.modules()
                 if isinstance(m, torch.nn.Conv2d) and m.weight.dim() == 4]
        not_cl = sum(not w.is_contiguous(memory_format=torch.channels_last) for w in convs)
        if not_cl or not rec.first_conv.get('input_channels_last'):
            result.fail('channels_last', f'{tag}: {not_cl}/{len(convs)} conv weights not '
                        'channels-last' + ('' if rec.first_conv.get('input_channels_last')
                                           else ', backbone input not channels-last'))
        else:
            result.ok_unless_failed('channels_last', f'{len(convs)} conv weights and the input')
    elif 'channels_last' not in result:
        result.set('channels_last', None,
                   'ViT (one patch convolution)' if not channels_last_applies(name) else
                   'checked in the AMP run')

    # resume from the epoch E-1 checkpoint: the last iteration repeats the uninterrupted run's
    ckpt = osp.join(wd, f'epoch_{num_iters(mode, device) - 1}.pth')
    try:
        rec2 = train_once(name, mode, wd + '_resumed', data_root, f'{name}_{tag}_resumed',
                          channels_last=amp, resume_from=ckpt, device=device, stop_after=1)
        nxt, got = rec.iters[-1], rec2.iters[0]
        tol = RESUME_TOLERANCE[mode]
        wrong = [f'{k} {got.get(k, float("nan")):.6g} vs {v:.6g}' for k, v in nxt.items()
                 if k != 'iter' and not close(got.get(k, float('nan')), v, tol)]
        if got['iter'] != nxt['iter'] or wrong:
            result.fail('resume', f'{tag}: iteration {got["iter"]} after resuming: '
                        + ', '.join(wrong[:3]))
        else:
            result.ok_unless_failed('resume')
    except Exception as exc:  # noqa: BLE001
        result.fail('resume', f'{tag}: {short_error(exc)}')
    return rec


def loss_offset(name):
    """A constant in the loss that would make the relative tolerance meaningless: CLoVE's
    ranking loss is ``margin`` (μ = 100, the hinge never turns off) plus what the network does."""
    if name != 'clove':
        return 0.0
    from mmengine.config import Config
    return float(Config.fromfile(osp.join(REPO, METHODS[name][1])).model.loss.margin)


def channels_last_applies(name):
    return name != 'loca'


# ---------------------------------------------------------------------------------- 3. distributed
def run_distributed(args, device, work, data_root, methods):
    """torchrun with ``args.gpus`` processes of this script in worker mode; returns
    method -> Result (the 'distributed' check) and the worker's extra checks."""
    out_dir = osp.join(work, 'dist')
    os.makedirs(out_dir, exist_ok=True)
    cmd = [sys.executable, '-m', 'torch.distributed.run', f'--nproc_per_node={args.gpus}',
           f'--master_port={free_port()}', '--master_addr=127.0.0.1', osp.abspath(__file__),
           '--dist-worker', out_dir, '--device', device, '--methods', *(methods or ['none'])]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [REPO] + [p for p in os.environ.get('PYTHONPATH', '').split(os.pathsep) if p]))
    env.setdefault('OMP_NUM_THREADS', '1')
    env['DENSEPRE_CHECK_DATA'] = data_root
    t0 = time.time()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env,
                              timeout=DIST_TIMEOUT + 120 * max(1, len(methods)))
        rc, tail = proc.returncode, (proc.stdout + proc.stderr)[-1500:]
    except subprocess.TimeoutExpired:
        rc, tail = 'timeout', 'the distributed run did not finish (a rank hung?)'
    path = osp.join(out_dir, 'rank0.json')
    if not osp.isfile(path):
        return None, f'torchrun exited with {rc} without results: {tail}', time.time() - t0
    with open(path) as f:
        res = json.load(f)
    err = None if rc == 0 else f'torchrun exited with {rc}: {tail[-600:]}'
    return res, err, time.time() - t0


def dist_worker(args):
    """One rank of the distributed check (launched by :func:`run_distributed`)."""
    import datetime

    import torch
    import torch.distributed as dist
    from mmengine.dist import all_gather_object, get_rank, get_world_size

    from densepre.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    device = args.device
    backend = 'nccl' if device == 'cuda' else 'gloo'
    if device == 'cuda':
        torch.cuda.set_device(int(os.environ['LOCAL_RANK']))
    dist.init_process_group(backend, timeout=datetime.timedelta(seconds=DIST_TIMEOUT))
    rank, world = get_rank(), get_world_size()
    data_root = os.environ['DENSEPRE_CHECK_DATA']
    results = OrderedDict(world_size=world, backend=backend, timeout_s=DIST_TIMEOUT,
                          methods=OrderedDict())

    # the distributed Sinkhorn equals the whole-batch one (each rank holds a slice)
    from densepre.models.utils.sinkhorn import sinkhorn_knopp
    g = torch.Generator().manual_seed(0)
    full = torch.randn(6 * world, 8, generator=g).softmax(-1)
    local = full[6 * rank:6 * (rank + 1)]
    got = sinkhorn_knopp(local.to(device), distributed=True).cpu()
    ref = sinkhorn_knopp(full.double(), distributed=False)[6 * rank:6 * (rank + 1)].float()
    errs = all_gather_object((got - ref).abs().max().item())
    results['sinkhorn_error'] = max(errs)

    import densepre.models.algorithms.mocov2 as mocov2_module
    shuffles = [0]
    real_shuffle = mocov2_module.batch_shuffle_ddp

    def counted_shuffle(x):
        shuffles[0] += 1
        return real_shuffle(x)

    mocov2_module.batch_shuffle_ddp = counted_shuffle
    for name in args.methods:
        res = Result()
        shuffles[0] = 0
        try:
            rec = train_once(name, 'float32', osp.join(args.dist_worker, name), data_root,
                             f'{name}_ddp', launcher='pytorch', device=device)
            losses = [r['loss'] for r in rec.iters]
            # parameters (DDP keeps them in sync) and queues; BN statistics are per rank
            # unless SyncBN (CUDA) normalises over the global batch
            sync = [m for m in rec.model.modules() if isinstance(m, torch.nn.SyncBatchNorm)]
            params = {n for n, _ in rec.model.named_parameters()}
            state = {k: v.detach().float().cpu() for k, v in rec.model.state_dict().items()
                     if v.is_floating_point() and (k in params or 'queue' in k or (
                         sync and 'running_' in k))}
            gathered = all_gather_object(dict(losses=losses, state=state, shuffles=shuffles[0]))
            res.set('loss_equal', all(
                all(close(a, b, (1e-6, 1e-7)) for a, b in zip(g['losses'], losses))
                for g in gathered), f'logged losses per rank {[g["losses"] for g in gathered]}')
            queues = [k for k in state if k.endswith('queue.queue') or '.side_' in k
                      or k == 'queue.queue']
            weights = [k for k in state if k not in queues]
            diff_w = [k for k in weights if not all(torch.equal(g['state'][k], state[k])
                                                   for g in gathered)]
            res.set('weights_equal', not diff_w, f'{len(diff_w)} tensors differ across ranks '
                    f'{diff_w[:3]}' if diff_w else f'{len(weights)} tensors equal on every rank')
            if queues:
                diff_q = [k for k in queues if not all(torch.equal(g['state'][k], state[k])
                                                      for g in gathered)]
                res.set('queue_equal', not diff_q, f'queues differ across ranks: {diff_q}'
                        if diff_q else 'all-gathered: every rank holds the same queue')
            if getattr(rec.model, 'shuffle_bn', False):
                res.set('shuffle_bn', all(g['shuffles'] > 0 for g in gathered),
                        f'batch_shuffle_ddp calls per rank {[g["shuffles"] for g in gathered]}')
            bns = [m for m in rec.model.modules()
                   if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
            if not bns:
                res.set('sync_bn', None, 'no BatchNorm layers')
            else:
                res.set('sync_bn', bool(sync) if device == 'cuda' else None,
                        f'{len(sync)} SyncBatchNorm layers' if device == 'cuda'
                        else 'SyncBN needs CUDA: reverted to BN on gloo')
            res['losses'] = losses
        except Exception as exc:  # noqa: BLE001
            traceback.print_exc()
            res.fail('run', f'rank {rank}: {short_error(exc)}')
        results['methods'][name] = res
    mocov2_module.batch_shuffle_ddp = real_shuffle
    if rank == 0:
        with open(osp.join(args.dist_worker, 'rank0.json'), 'w') as f:
            json.dump(results, f, indent=1)
    dist.barrier()
    dist.destroy_process_group()


# ---------------------------------------------------------------------------------- 4. transfer
TRANSFER = OrderedDict([
    ('fcn', ('configs/demo/fcn_r18-d8_1xb8-300it_demo-voc-96x96.py', {
        'train_dataloader.batch_size': 2, 'train_dataloader.num_workers': 0,
        'train_dataloader.persistent_workers': False})),
    ('faster_rcnn_c4', ('configs/demo/faster-rcnn_r18-c4_1xb2-ms-200it_demo-voc0712.py', {
        'train_dataloader.batch_size': 1, 'train_dataloader.num_workers': 0,
        'train_dataloader.persistent_workers': False,
        'model.train_cfg.rpn_proposal.nms_pre': 200,
        'model.train_cfg.rpn_proposal.max_per_img': 32, 'model.train_cfg.rcnn.sampler.num': 16})),
])


def check_transfer(name, checkpoint, device, work, paths):
    """One training iteration of a demo downstream config from ``checkpoint``."""
    import torch
    from mmengine.config import Config

    from densepre.transfer import extract_backbone
    from densepre.transfer.downstream import inject_pretrained, register_scope, verify
    res = Result()
    rel, overrides = TRANSFER[name]
    cfg = Config.fromfile(osp.join(REPO, rel))
    cfg.merge_from_dict(overrides)
    _point_at_demo(cfg, paths)
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=1, val_interval=10)
    for key in ('val_dataloader', 'val_evaluator', 'val_cfg', 'test_dataloader',
                'test_evaluator', 'test_cfg'):
        cfg[key] = None
    cfg.param_scheduler = []
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=100)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=1)
    cfg.custom_hooks = []
    cfg.work_dir = osp.join(work, f'transfer_{name}')
    cfg.experiment_name = f'check_install_transfer_{name}'
    cfg.log_level = 'ERROR'
    cfg.randomness = dict(seed=0)
    register_scope(cfg.default_scope)
    t0 = time.perf_counter()
    try:
        weights = osp.join(work, f'backbone_{name}.pth')
        pretrained = extract_backbone(checkpoint, weights)
        inject_pretrained(cfg, weights)
        report = verify(cfg, pretrained)
        res.set('loading', True, '; '.join(report))
        from densepre.engine.runner import DenseRunner
        runner = DenseRunner.from_cfg(cfg)
        losses = {}

        from mmengine.hooks import Hook

        class Losses(Hook):
            def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
                losses.update({k: float(v.detach().float().mean()) if isinstance(
                    v, torch.Tensor) else float(v) for k, v in (outputs or {}).items()})

        runner.register_hook(Losses(), priority='LOWEST')
        runner.train()
        on = {p.device.type for p in runner.model.parameters()}
        ok = bool(losses) and all(math.isfinite(v) for v in losses.values()) and on == {device}
        res.set('iteration', ok, f'loss {losses.get("loss", float("nan")):.4g} on {on}')
    except Exception as exc:  # noqa: BLE001
        traceback.print_exc()
        res.fail('iteration' if 'loading' in res else 'loading', short_error(exc))
    res['seconds'] = time.perf_counter() - t0
    return res


def _point_at_demo(cfg, paths):
    voc = osp.join(paths['root'], 'VOCdevkit', '')
    loader = cfg.train_dataloader
    ds = loader.dataset
    if ds.get('type') == 'ConcatDataset':
        for sub in ds.datasets:
            sub.data_root = voc
    elif 'VOC2012' in str(ds.get('data_root', '')):
        ds.data_root = osp.join(voc, 'VOC2012', '')
    else:
        ds.data_root = voc


# ---------------------------------------------------------------------------------- output
def table(results):
    """The method x check table and the numbered reasons of every failure."""
    notes = []

    def cell(entry):
        if entry is None:
            return '-'
        if entry['status'] == 'FAIL':
            notes.append(entry['reason'])
            return f'FAIL [{len(notes)}]'
        return entry['status']

    lines = []
    if results.get('ops'):
        lines.append('mmcv ops on ' + results['device'] + ': ' + ', '.join(
            f'{k} {cell(v)}' for k, v in results['ops'].items()))
    amp = results['amp_tag']
    header = ['method'] + list(CHECKS) + ['ms/step fp32', f'ms/step {amp}', 'ref dev fp32',
                                          f'ref dev {amp}']
    rows = []
    for name, m in results['methods'].items():
        t, d = m.get('step_ms', {}), m.get('reference_deviation', {})
        rows.append([METHODS[name][0]] + [cell(m['checks'].get(c)) for c in CHECKS]
                    + [f'{t[k]:.0f}' if k in t else '-' for k in ('fp32', amp)]
                    + [f'{d[k]:.1e}' if k in d else '-' for k in ('fp32', amp)])
    if rows:
        widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
        fmt = '  '.join(f'{{:<{w}}}' for w in widths)
        lines += [fmt.format(*header), fmt.format(*['-' * w for w in widths])]
        lines += [fmt.format(*r) for r in rows]
    for name, t in results.get('transfer', {}).items():
        lines.append(f'transfer {name}: ' + ', '.join(
            f'{k} {cell(v)}' for k, v in t.items() if isinstance(v, dict))
            + f' ({t.get("seconds", 0):.1f} s)')
    if results.get('distributed_error'):
        notes.append(results['distributed_error'])
        lines.append(f'distributed: FAIL [{len(notes)}]')
    if notes:
        lines.append('')
        lines += [f'[{i}] {n}' for i, n in enumerate(notes, 1)]
    return '\n'.join(lines)


def environment_text(env):
    lines = [f'python {env["python"]}, device {env["device"]}'
             + (f' ({", ".join(env["gpu"])})' if env.get('gpu') else '')]
    vers = []
    for pkg, v in env['versions'].items():
        mark = '' if v['tested'] else (' (not installed)' if v['version'] is None else
                                       f' (tested: {v["pinned"]})' if v['pinned'] else '')
        vers.append(f'{pkg} {v["version"]}{mark}')
    lines.append(', '.join(vers))
    lines.append(f'CUDA {env["torch_cuda"]} (available: {env["cuda_available"]}), cuDNN '
                 f'{env["cudnn"]}, NCCL {env["nccl"]}; bf16: {env["bf16"]}, fp16: {env["fp16"]};'
                 f' mmcv ops compiled: {env.get("mmcv_ops_compiled")}, with CUDA: '
                 f'{env.get("mmcv_cuda_ops")}')
    return '\n'.join(lines)


# ---------------------------------------------------------------------------------- main
def resolve_device(device):
    import torch
    if device == 'auto':
        return 'cuda' if torch.cuda.is_available() else 'cpu'
    if device == 'cuda' and not torch.cuda.is_available():
        raise SystemExit('--device cuda: torch sees no CUDA device '
                         f'(torch {torch.__version__}, built with CUDA {torch.version.cuda})')
    return device


def amp_mode(amp, device):
    from densepre.engine.amp import cpu_has_bf16
    if amp == 'off':
        return None
    if amp == 'bf16':
        import torch
        if device == 'cuda' and not torch.cuda.is_bf16_supported():
            raise SystemExit('--amp bf16: this GPU has no bf16 support')
        if device == 'cpu' and not cpu_has_bf16():
            print('note: this CPU has no bf16 instructions: bf16 is emulated (slow)')
        return 'bfloat16'
    return 'float16'  # auto / fp16: CUDA's AMP, and its CPU stand-in


def main(argv=None):
    args = parse_args(argv)
    import warnings  # the OpenMMLab stack's deprecation notes would bury the table
    warnings.filterwarnings('ignore', category=UserWarning)
    warnings.filterwarnings('ignore', category=DeprecationWarning)
    if args.device == 'cpu':
        os.environ['CUDA_VISIBLE_DEVICES'] = ''
    if args.dist_worker:
        return dist_worker(args)
    start = time.time()
    import torch

    from densepre.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    device = resolve_device(args.device)
    mode = amp_mode(args.amp, device)
    amp_tag = {None: 'amp', 'float16': 'fp16', 'bfloat16': 'bf16'}[mode]
    env = environment(device)
    print(environment_text(env), flush=True)
    refs = None
    if not args.write_references:
        if not osp.isfile(args.references):
            raise SystemExit(f'--references {args.references}: file not found (generate it with '
                             '--write-references on a CPU)')
        with open(args.references) as f:
            refs = json.load(f).get('methods')
        if not isinstance(refs, dict):
            raise SystemExit(f'{args.references}: expected {{"methods": {{name: {{term: '
                             'value}}}}}}')
    results = OrderedDict(device=device, amp=mode, amp_tag=amp_tag, environment=env,
                          ops=None, methods=OrderedDict(), transfer=OrderedDict())
    if 'ops' not in args.skip:
        results['ops'] = check_ops(device)

    work = args.work_dir or tempfile.mkdtemp(prefix='densepre-check-')
    os.makedirs(work, exist_ok=True)
    written = OrderedDict()
    try:
        paths = make_data(osp.join(work, 'data'))
        for name in args.methods:
            print(f'[check_install] {METHODS[name][0]} ...', flush=True)
            res, stats = Result(), OrderedDict()
            rec = check_method(name, 'float32', device, work, paths['root'],
                               refs if refs is not None else {name: {}}, res, stats)
            if args.write_references and rec is not None and rec.iters:
                written[name] = {k: v for k, v in rec.iters[0].items() if k != 'iter'}
            if mode is not None:
                check_method(name, mode, device, work, paths['root'], refs or {}, res, stats)
            results['methods'][name] = dict(checks=res, **stats)
            torch.cuda.empty_cache() if device == 'cuda' else None
        if args.gpus > 1:
            print(f'[check_install] distributed: {args.gpus} processes ...', flush=True)
            dres, derr, secs = run_distributed(args, device, work, paths['root'], args.methods)
            results['distributed_error'] = derr
            results['distributed'] = dres
            results['distributed_seconds'] = secs
            for name in args.methods:
                m = results['methods'][name]['checks']
                sub = (dres or {}).get('methods', {}).get(name)
                if sub is None:
                    m.fail('distributed', derr or 'no distributed result')
                    continue
                fails = [f'{k}: {v["reason"]}' for k, v in sub.items()
                         if isinstance(v, dict) and v.get('status') == 'FAIL']
                passed = [k for k, v in sub.items()
                          if isinstance(v, dict) and v.get('status') == 'ok']
                if fails:
                    m.fail('distributed', '; '.join(fails))
                else:
                    m.set('distributed', True, ', '.join(passed))
            if dres is not None:
                results['sinkhorn_error'] = dres.get('sinkhorn_error')
                if not dres.get('sinkhorn_error', 1) < 1e-5:
                    results['distributed_error'] = (derr or '') + (
                        f' distributed Sinkhorn differs from the whole-batch one by '
                        f'{dres.get("sinkhorn_error")}')
                elif derr is None:
                    results['distributed_error'] = None
        else:
            for name in args.methods:
                results['methods'][name]['checks'].set('distributed', None, '--gpus 1')
        if 'transfer' not in args.skip and not args.write_references:
            last = f'epoch_{ITERS["float32"]}.pth'
            ckpt = next((osp.join(work, f'{n}_fp32', last) for n in args.methods
                         if n != 'loca' and osp.isfile(osp.join(work, f'{n}_fp32', last))),
                        None)
            for name in TRANSFER:
                print(f'[check_install] transfer {name} ...', flush=True)
                if ckpt is None:
                    results['transfer'][name] = Result(
                        loading=dict(status='n/a', reason='no ResNet method was trained'))
                else:
                    results['transfer'][name] = check_transfer(name, ckpt, device, work, paths)
    finally:
        if not args.work_dir:
            shutil.rmtree(work, ignore_errors=True)

    if args.write_references:
        if osp.isfile(args.references):  # update the methods that ran, keep the others
            with open(args.references) as f:
                written = OrderedDict(json.load(f).get('methods', {}), **written)
        with open(args.references, 'w') as f:
            json.dump(dict(
                note='First-iteration loss terms of every method, CPU fp32, written by '
                     '`python tools/check_install.py --write-references`; compared within '
                     'TOLERANCE (tools/check_install.py).',
                torch=torch.__version__, methods=written), f, indent=1)
            f.write('\n')
        print(f'wrote {args.references}')
    results['seconds'] = time.time() - start
    print()
    print(table(results))
    failed = failures(results)
    print(f'\n{"FAILED" if failed else "OK"}: {len(failed)} failed checks '
          f'({results["seconds"]:.0f} s)')
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(dict(results, ok=not failed, failures=failed), f, indent=1, default=str)
    return 1 if failed else 0


def failures(results):
    out = []
    for name, r in (results.get('ops') or {}).items():
        if r['status'] == 'FAIL':
            out.append(f'ops/{name}')
    for name, m in results['methods'].items():
        out += [f'{name}/{c}' for c, r in m['checks'].items() if r['status'] == 'FAIL']
    for name, t in results.get('transfer', {}).items():
        out += [f'transfer/{name}/{c}' for c, r in t.items()
                if isinstance(r, dict) and r.get('status') == 'FAIL']
    if results.get('distributed_error'):
        out.append('distributed')
    return out


if __name__ == '__main__':
    sys.exit(main())
