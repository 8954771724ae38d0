"""Mixed precision and channels-last through the Runner (tools/train.py, DenseRunner).

* AMP configs run bf16 autocast on a CPU with bf16 (``DENSEPRE_CPU_BF16`` forces the detection
  either way, so every path runs on any machine), fall back to fp32 with one warning on a CPU
  without it, and run fp16 + a (CPU) GradScaler when float16 is asked for - the CPU stand-in for
  the GPU path.
* One training step's loss in bf16 matches fp32 for MoCo v2, BYOL, LEWEL_B and LEWEL_M.
* oneDNN's wrong bf16 weight gradient of strided convolutions on maps no larger than the stride
  (what made the tiny multi-crop configs diverge) is reproduced, and the fp32 fallback that
  ``DenseAmpOptimWrapper`` installs on CPU bf16 computes it right; the multi-crop BYOL config with
  16-px crops trains in bf16 through tools/train.py.
* ``channels_last = True`` converts the model (incl. EMA copies) and the data preprocessor's
  output, for a pretraining and a transfer (mmseg) config, without changing the loss.
"""
import glob
import itertools
import math
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from densepre.engine.amp import DenseAmpOptimWrapper, amp_optim_wrapper_cfg, cpu_has_bf16
from densepre.engine.cpu_bf16_conv import (bf16_weight_grad_unsafe, guard_cpu_bf16_convs,
                                           is_guarded)
from densepre.engine.channels_last import apply_channels_last, is_channels_last, to_channels_last
from utils import REPO, TINY, derived_config, logged_scalars

CONFIGS = dict(TINY,
               lewel_b=osp.join(REPO, 'tests/configs/lewel_b_r18_tiny.py'),
               lewel_m=osp.join(REPO, 'tests/configs/lewel_m_r18_tiny.py'))
DEMO_SEG = osp.join(REPO, 'configs/demo/fcn_r18-d8_1xb8-300it_demo-voc-96x96.py')
_RUN = itertools.count()

FP32 = 'optim_wrapper.dtype=float32'  # the AMP configs with AMP switched off
# bf16 keeps 8 mantissa bits (relative rounding 2^-9 = 0.2 %). Through a random-init ResNet-18
# the rounding grows to a ~4 % relative difference of the C5 features (cos 0.999) at batch 8 and
# 64 px; the error is the backbone's, not the losses': computing the heads and losses in fp32
# inside autocast does not change the loss difference. With BN over very few values (batch 4,
# 32 px: C5 is 1x1, so BN normalises 4 numbers per channel) it grows to ~11 % and the losses to
# ~3 %, so the parity runs use batch 8 and 64-px views (C5 2x2: 32 values per channel).
PARITY = ('train_dataloader.batch_size=8', 'train_dataloader.dataset.indices=16',
          'train_dataloader.dataset.pipeline.1.views.0.transforms.0.scale=64')
LOSS_RTOL = 3e-2  # measured on this machine: <= 1.7 % (LEWEL_M's aligned loss)


def train(config, work_dir, demo_root, *options, args=()):
    """tools/train.py in this process, on 8 demo images (2 iterations of batch 4) unless the
    options say otherwise."""
    from train import main
    main([config, '--work-dir', str(work_dir), *args, '--cfg-options',
          f'train_dataloader.dataset.data_root={demo_root}/imagenet/',
          'train_dataloader.dataset.indices=8', 'train_cfg.max_epochs=1',
          f'experiment_name=amp_test_{next(_RUN)}', *options])
    return {r['iter']: r for r in logged_scalars(work_dir) if 'loss' in r}


def log_text(work_dir):
    return ''.join(open(p).read() for p in glob.glob(osp.join(str(work_dir), '*', '*.log')))


@pytest.fixture
def cpu_bf16(monkeypatch):
    monkeypatch.setenv('DENSEPRE_CPU_BF16', '1')


# ------------------------------------------------------------------------------ dtype policy
def test_amp_policy_per_device(monkeypatch):
    amp = dict(type='AmpOptimWrapper', loss_scale='dynamic', optimizer=dict(type='SGD', lr=0.1))
    monkeypatch.setenv('DENSEPRE_CPU_BF16', '1')
    cfg = amp_optim_wrapper_cfg(amp, 'cpu')
    assert cfg['type'] is DenseAmpOptimWrapper and cfg['dtype'] == 'bfloat16'
    assert amp_optim_wrapper_cfg(dict(amp, dtype='float16'), 'cpu')['dtype'] == 'float16'
    cuda = amp_optim_wrapper_cfg(amp, 'cuda')
    assert cuda['dtype'] == 'float16' and cuda['device_type'] == 'cuda'
    monkeypatch.setattr(torch.cuda, 'is_bf16_supported', lambda *a, **k: False)
    with pytest.raises(ValueError, match='no bf16 support'):
        amp_optim_wrapper_cfg(dict(amp, dtype='bfloat16'), 'cuda')
    with pytest.raises(ValueError, match='optim_wrapper.dtype'):
        amp_optim_wrapper_cfg(dict(amp, dtype='float64'), 'cpu')
    off = dict(type='OptimWrapper', optimizer=amp['optimizer'])
    assert amp_optim_wrapper_cfg(dict(amp, dtype='float32'), 'cuda') == off

    monkeypatch.setenv('DENSEPRE_CPU_BF16', '0')
    fallback = amp_optim_wrapper_cfg(amp, 'cpu')
    assert fallback == dict(type='OptimWrapper', optimizer=amp['optimizer'])
    plain = dict(type='OptimWrapper', optimizer=dict(type='SGD', lr=0.1))
    assert amp_optim_wrapper_cfg(plain, 'cpu') is plain
    monkeypatch.setenv('DENSEPRE_CPU_BF16', 'yes')
    with pytest.raises(ValueError, match='DENSEPRE_CPU_BF16'):
        cpu_has_bf16()


def test_cpu_bf16_detection_reads_cpuinfo(monkeypatch):
    import densepre.engine.amp as amp
    monkeypatch.delenv('DENSEPRE_CPU_BF16', raising=False)
    monkeypatch.setattr(amp, '_cpu_flags', lambda: {'avx2', 'avx512f'})
    assert not amp.cpu_has_bf16()
    monkeypatch.setattr(amp, '_cpu_flags', lambda: {'avx512f', 'avx512_bf16'})
    assert amp.cpu_has_bf16()


@pytest.mark.parametrize('dtype', ['bfloat16', 'float16'])
def test_wrapper_step_matches_fp32(dtype):
    """One SGD step of a small conv net in bf16 (no scaler) / fp16 (GradScaler, CPU stand-in for
    the GPU path): same update as fp32 up to the dtype's rounding; the scaler's state is saved."""
    from mmengine.optim import OptimWrapper

    def run(wrapper_cls, **kw):
        torch.manual_seed(0)
        net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.BatchNorm2d(8),
                                  torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1),
                                  torch.nn.Flatten(), torch.nn.Linear(8, 4))
        x = torch.randn(4, 3, 8, 8, generator=torch.Generator().manual_seed(1))
        wrapper = wrapper_cls(optimizer=torch.optim.SGD(net.parameters(), lr=0.5), **kw)
        with wrapper.optim_context(net):
            out = net(x)
            loss = out.float().logsumexp(1).mean()
        wrapper.update_params(loss)
        return out.dtype, loss.item(), torch.cat([p.detach().flatten() for p in net.parameters()]), \
            wrapper

    _, ref_loss, ref_params, _ = run(OptimWrapper)
    out_dtype, loss, params, wrapper = run(DenseAmpOptimWrapper, dtype=dtype, device_type='cpu')
    assert out_dtype == getattr(torch, dtype)  # autocast was on
    tol = 2e-2 if dtype == 'bfloat16' else 2e-3
    assert loss == pytest.approx(ref_loss, rel=tol)
    torch.testing.assert_close(params, ref_params, rtol=tol, atol=tol)
    state = wrapper.state_dict()
    if dtype == 'float16':
        assert wrapper.loss_scaler is not None and state['loss_scaler']['scale'] == 2.0**16
    else:
        assert wrapper.loss_scaler is None and 'loss_scaler' not in state
    wrapper.load_state_dict(state)


# ------------------------------------------------------------------------------ through train.py
@pytest.mark.parametrize('algo', ['mocov2'] + [pytest.param(a, marks=pytest.mark.slow)
                                                for a in ('byol', 'lewel_b', 'lewel_m')])
def test_bf16_loss_matches_fp32(algo, demo_root, tmp_path, cpu_bf16):
    """The first step (same weights, same batch) in bf16 autocast vs fp32, via tools/train.py:
    losses agree within LOSS_RTOL (and differ: autocast really ran)."""
    fp32 = train(CONFIGS[algo], tmp_path / 'fp32', demo_root, FP32, *PARITY)
    bf16 = train(CONFIGS[algo], tmp_path / 'bf16', demo_root, *PARITY,
                 args=['--amp-dtype', 'bfloat16'])
    assert 'bfloat16 autocast on cpu' in log_text(tmp_path / 'bf16')
    keys = [k for k in ('loss', 'l_global', 'l_aligned') if k in fp32[1]]
    for key in keys:
        assert bf16[1][key] == pytest.approx(fp32[1][key], rel=LOSS_RTOL), key
    assert bf16[1]['loss'] != fp32[1]['loss']
    # and after one bf16 update the next loss is still close (looser: the steps compound)
    assert bf16[2]['loss'] == pytest.approx(fp32[2]['loss'], rel=3 * LOSS_RTOL)


def test_cpu_without_bf16_falls_back_to_fp32(demo_root, tmp_path, monkeypatch):
    monkeypatch.setenv('DENSEPRE_CPU_BF16', '0')
    amp = train(TINY['mocov2'], tmp_path / 'amp', demo_root, args=['--amp'])
    text = log_text(tmp_path / 'amp')
    assert text.count('falls back to the fp32 OptimWrapper') == 1
    fp32 = train(TINY['mocov2'], tmp_path / 'fp32', demo_root, FP32)
    assert amp[1]['loss'] == fp32[1]['loss']


def test_fp16_with_grad_scaler_stand_in(demo_root, tmp_path):
    """--amp-dtype float16 on CPU: the GPU path (fp16 autocast + dynamic GradScaler) on CPU; the
    scaler's state goes into the checkpoint and a resume restores it."""
    losses = train(TINY['mocov2'], tmp_path, demo_root, args=['--amp-dtype', 'float16'])
    fp32 = train(TINY['mocov2'], tmp_path / 'fp32', demo_root, FP32)
    assert losses[1]['loss'] == pytest.approx(fp32[1]['loss'], rel=LOSS_RTOL)
    ckpt = torch.load(tmp_path / 'epoch_1.pth', map_location='cpu', weights_only=False)
    assert ckpt['optimizer']['loss_scaler']['scale'] > 0
    assert 'float16 on CPU' in log_text(tmp_path)
    train(TINY['mocov2'], tmp_path, demo_root, 'train_cfg.max_epochs=2',
          args=['--amp-dtype', 'float16', '--resume'])
    assert (tmp_path / 'epoch_2.pth').exists()


def test_similarities_and_softmaxes_run_in_fp32_under_autocast():
    """CPU fp16 autocast keeps matmul / normalize / softmax in fp16 (CUDA autocast promotes the
    last two): LEWEL's alignment maps, LEWEL_M's batch InfoNCE and the BYOL / LEWEL_B cosine loss
    give, on fp16 inputs inside autocast, what fp32 gives on the same (upcast) inputs."""
    from mmpretrain.models.losses import CosineSimilarityLoss

    from densepre.models.algorithms.byol import BYOL
    from densepre.models.losses.batch_infonce import BatchInfoNCELoss
    from densepre.models.utils.alignment import alignment_maps
    g = torch.Generator().manual_seed(0)
    dense = (3 * torch.randn(2, 16, 4, 4, generator=g)).half()
    q, k = torch.randn(8, 4, 16, generator=g).half(), torch.randn(8, 4, 16, generator=g).half()
    head = torch.nn.Module()
    head.predictor = lambda xs: [xs[0] @ torch.eye(16, dtype=xs[0].dtype)]
    head.loss_module = CosineSimilarityLoss(shift_factor=2.0, scale_factor=2.0)
    z, t = torch.randn(8, 16, generator=g).half(), torch.randn(8, 16, generator=g).half()
    cases = [(lambda a: alignment_maps(a, 0.5), (dense, )),
             (BatchInfoNCELoss(0.2), (q, k)),
             (lambda a, b: BYOL.predict_loss(head, a, b), (z, t))]
    for fn, args in cases:
        with torch.autocast('cpu', dtype=torch.float16):
            got = fn(*args)
        ref = fn(*[a.float() for a in args])
        assert got.dtype == torch.float32
        torch.testing.assert_close(got, ref, rtol=1e-6, atol=1e-7)


FP16_CONFIGS = dict(
    byol=TINY['byol'], lewel_b=CONFIGS['lewel_b'], lewel_m=CONFIGS['lewel_m'],
    clove=osp.join(REPO, 'tests/configs/clove_r18_tiny.py'),
    mocov2_mc=osp.join(REPO, 'tests/configs/mocov2-mc_r18_tiny.py'),
    knn_moco=osp.join(REPO, 'tests/configs/knn-mocov2_r18_tiny.py'))
# fp16 keeps 11 mantissa bits (8x finer than bf16), but the CPU stand-in is harsher than CUDA
# autocast: CPU autocast runs softmax / log_softmax / normalize in fp16 (CUDA: fp32), so every
# similarity, softmax and Sinkhorn of the losses is computed in fp32 explicitly.
FP16_RTOL = 1e-2
FP16_SCALE = 256.0


@pytest.mark.parametrize('algo', [  # CPU fp16 is slow (no oneDNN kernels): one in the fast suite
    a if a == 'lewel_m' else pytest.param(a, marks=pytest.mark.slow) for a in sorted(FP16_CONFIGS)])
def test_fp16_stand_in_every_method(algo, demo_root, tmp_path):
    """fp16 autocast + dynamic GradScaler on CPU (the GPU path) for every method, 2 epochs of one
    iteration (kNN-MoCo's neighbour loss starts in epoch 2): the first step (same weights, same
    batch) matches fp32 term by term, the second is finite and still close, and the GradScaler
    took both steps (its scale is unchanged)."""
    opts = ('train_dataloader.dataset.indices=4', 'train_cfg.max_epochs=2')
    if algo == 'knn_moco':  # the Revisiting configs train on COCO images
        opts += (f'train_dataloader.dataset.data_root={demo_root}/coco/', )
    fp32 = train(FP16_CONFIGS[algo], tmp_path / 'fp32', demo_root, FP32, *opts)
    # dynamic scaling from 2^8, not 2^16: from 2^16 these tiny nets overflow the first ~4 steps
    # (largest gradient ~13), so a 2-step run would compare an fp16 run that never stepped
    # (`_delete_` replaces an AMP base's loss_scale='dynamic'; an fp32 base has none to replace)
    has_scale = 'loss_scale' in Config.fromfile(FP16_CONFIGS[algo]).optim_wrapper
    cfg = derived_config(tmp_path, FP16_CONFIGS[algo],
                         'optim_wrapper = dict(loss_scale=dict('
                         + ('_delete_=True, ' if has_scale else '')
                         + f'init_scale={FP16_SCALE}))')
    fp16 = train(cfg, tmp_path / 'fp16', demo_root, *opts, args=['--amp-dtype', 'float16'])
    assert 'float16 on CPU' in log_text(tmp_path / 'fp16')
    assert sorted(fp16) == sorted(fp32) == [1, 2]
    for key, ref in fp32[1].items():
        if key.startswith('loss') or key.endswith(('_ce', '_loss')) or key.startswith('l_'):
            assert math.isfinite(fp16[1][key]) and math.isfinite(fp16[2][key]), key
            assert fp16[1][key] == pytest.approx(ref, rel=FP16_RTOL, abs=1e-3), key
    assert fp16[1]['loss'] != fp32[1]['loss']  # autocast really ran
    assert fp16[2]['loss'] == pytest.approx(fp32[2]['loss'], rel=3 * FP16_RTOL)
    if algo == 'knn_moco':
        assert fp16[2]['knn_active'] == 1 and fp16[2]['knn_ce'] > 0
    scaler = torch.load(tmp_path / 'fp16' / 'epoch_2.pth', map_location='cpu',
                        weights_only=False)['optimizer']['loss_scaler']
    assert scaler['scale'] == FP16_SCALE  # both steps taken (no overflow, no NaN)


def test_bf16_exact_resume(demo_root, tmp_path, cpu_bf16):
    """bf16 autocast on CPU is deterministic: a resumed run reproduces the uninterrupted one.
    (MoCo v2: its fixed EMA momentum and the config's fixed cosine T_max do not depend on the
    run's length, so a 1-epoch run is the first half of the 2-epoch one.)"""
    full = train(TINY['mocov2'], tmp_path / 'full', demo_root, 'train_cfg.max_epochs=2',
                 args=['--amp'])
    train(TINY['mocov2'], tmp_path / 'part', demo_root, args=['--amp'])
    resumed = train(TINY['mocov2'], tmp_path / 'part', demo_root, 'train_cfg.max_epochs=2',
                    args=['--amp', '--resume'])
    assert 'bfloat16 autocast on cpu' in log_text(tmp_path / 'part')
    for it in (3, 4):
        assert resumed[it]['loss'] == pytest.approx(full[it]['loss'], rel=1e-5), it


# ------------------------------------------------------------------------------ oneDNN bf16 conv
def conv_weight_grad(conv, x, bf16=True):
    """(output dtype, weight gradient) of ``conv(x)`` with a fixed, non-uniform output gradient."""
    conv.weight.grad = None
    x = x.clone().requires_grad_()
    with torch.autocast('cpu', dtype=torch.bfloat16, enabled=bf16):
        y = conv(x)
    (y.float() * torch.linspace(-1, 1, y.numel()).view_as(y)).sum().backward()
    return y.dtype, conv.weight.grad.clone()


def rel_err(a, b):
    return ((a - b).abs().max() / b.abs().max()).item()


def test_bf16_conv_weight_grad_on_1x1_maps(cpu_bf16):
    """ResNet-18 layer4.0.conv1 (3x3, stride 2, padding 1) on the 1x1 map of a 16-px crop: the
    8 off-centre taps see only padding, so their gradient is exactly 0 (fp32). oneDNN's bf16
    kernel returns leftover memory there; the guarded conv computes it in fp32 and gets it right."""
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(256, 512, 3, stride=2, padding=1, bias=False)
    x = torch.randn(12, 256, 1, 1)
    _, ref = conv_weight_grad(conv, x, bf16=False)
    assert ref[:, :, 1, 1].abs().min() > 0 and (ref.sum((0, 1)) != 0).sum() == 1  # centre only
    unguarded = []
    for _ in range(5):  # leftover memory: leave some behind first
        junk = torch.full((1 << 22, ), 3e38)
        del junk
        unguarded.append(conv_weight_grad(conv, x)[1])
    assert guard_cpu_bf16_convs(conv) == 1 and guard_cpu_bf16_convs(conv) == 0  # once
    for _ in range(3):
        dtype, got = conv_weight_grad(conv, x)
        assert dtype == torch.float32  # ran in fp32 inside the autocast region
        torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-6)
    # the guard is needed: unguarded bf16 puts non-zeros (often 1e25+) in the padding-only taps
    centre = torch.zeros(3, 3, dtype=torch.bool)
    centre[1, 1] = True
    wrong = [g for g in unguarded if not (g[:, :, ~centre] == 0).all()]  # incl. NaN / inf
    if not wrong:
        pytest.skip('this torch/oneDNN build computes the bf16 weight gradient right '
                    '(densepre/engine/cpu_bf16_conv.py may be unnecessary)')


def test_bf16_conv_guard_covers_every_wrong_geometry():
    """Measured: every (input width, kernel, stride, padding) whose bf16 weight gradient is wrong
    is one :func:`bf16_weight_grad_unsafe` sends to fp32 (so the guard misses none)."""
    torch.manual_seed(0)
    wrong, unsafe = [], []
    for w, k, s in itertools.product(range(1, 5), range(1, 5), range(1, 5)):
        for p in range(k // 2 + 1):
            if w + 2 * p < k:
                continue
            conv = torch.nn.Conv2d(64, 128, (1, k), stride=(1, s), padding=(0, p), bias=False)
            x = torch.randn(8, 64, 3, w)
            _, ref = conv_weight_grad(conv, x, bf16=False)
            errs = [rel_err(conv_weight_grad(conv, x)[1], ref) for _ in range(2)]
            if not all(e <= 5e-2 for e in errs):  # NaN / inf count as wrong
                wrong.append((w, k, s, p))
            if bf16_weight_grad_unsafe(conv, x):
                unsafe.append((w, k, s, p))
    assert set(wrong) <= set(unsafe), sorted(set(wrong) - set(unsafe))
    assert len(unsafe) < 0.5 * 130  # and it is not "everything in fp32"


def test_bf16_conv_guard_scope():
    """fp32 only where needed: larger maps, no-grad passes (EMA teachers) and fp32 runs keep their
    dtype; deepcopy (EMATeacher) keeps the guard, bound to the copy; DenseAmpOptimWrapper installs
    it on CPU bf16 only."""
    import copy
    from densepre.models.utils.ema import EMATeacher
    net = torch.nn.Sequential(torch.nn.Conv2d(8, 8, 3, stride=2, padding=1),
                              torch.nn.Conv2d(8, 8, 3, padding=1), torch.nn.Conv2d(8, 8, 1, 2))
    assert guard_cpu_bf16_convs(net) == 1 and is_guarded(net[0]) and not is_guarded(net[1])
    tiny, big = torch.randn(2, 8, 1, 1), torch.randn(2, 8, 5, 5)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        assert net[0](tiny).dtype == torch.float32 and net[0](big).dtype == torch.bfloat16
        with torch.no_grad():
            assert net[0](tiny).dtype == torch.bfloat16
    with torch.autocast('cpu', dtype=torch.float16):
        assert net[0](tiny).dtype == torch.float16
    twin = copy.deepcopy(net)
    assert is_guarded(twin[0]) and twin[0].forward.args[0] is twin[0]
    import pickle
    again = pickle.loads(pickle.dumps(net))  # torch.save(model) works too
    assert is_guarded(again[0]) and again[0].forward.args[0] is again[0]
    with torch.no_grad():
        twin[0].weight.zero_()
    assert twin[0](tiny).abs().max() == twin[0].bias.abs().max()  # runs the copy's weights
    teacher = EMATeacher(dict(net=net), momentum=0.01)
    assert is_guarded(teacher['net'][0]) and not teacher['net'][0].weight.requires_grad

    def wrapper_guards(dtype):
        model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, stride=2))
        wrapper = DenseAmpOptimWrapper(optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
                                       dtype=dtype, device_type='cpu')
        with wrapper.optim_context(model):
            pass
        return is_guarded(model[0])

    assert wrapper_guards('bfloat16') and not wrapper_guards('float16')


@pytest.mark.slow
def test_multicrop_byol_trains_in_bf16(demo_root, tmp_path, cpu_bf16):
    """The tiny multi-crop BYOL config (2 x 32-px + 3 x 16-px views, so layer4 sees 1x1 maps) in
    bf16 through tools/train.py: unguarded it reached layer4.0.conv1 weights of ~1e30 at
    iteration 8 (the checkpoint hook refuses them); now its 8 steps keep finite weights and its
    losses follow fp32's (measured <= 0.6 % over the first 4 steps)."""
    cfg = osp.join(REPO, 'tests/configs/byol-mc_r18_tiny.py')
    opts = ('train_dataloader.dataset.indices=32', )
    bf16 = train(cfg, tmp_path / 'bf16', demo_root, *opts, args=['--amp'])  # BYOL: fp32 config
    fp32 = train(cfg, tmp_path / 'fp32', demo_root, FP32, *opts)
    assert 'bfloat16 autocast on cpu' in log_text(tmp_path / 'bf16')
    assert sorted(bf16) == list(range(1, 9))
    for it in range(1, 5):
        assert bf16[it]['loss'] == pytest.approx(fp32[it]['loss'], rel=LOSS_RTOL), it
    state = torch.load(tmp_path / 'bf16' / 'epoch_1.pth', map_location='cpu',
                       weights_only=False)['state_dict']
    ref = torch.load(tmp_path / 'fp32' / 'epoch_1.pth', map_location='cpu',
                     weights_only=False)['state_dict']
    key = 'backbone.layer4.0.conv1.weight'
    assert state[key].abs().max() == pytest.approx(ref[key].abs().max(), rel=0.1)


# ------------------------------------------------------------------------------ channels-last
def test_to_channels_last_structures():
    x = torch.randn(2, 3, 4, 5)
    out = to_channels_last(dict(inputs=[x, x[:1]], data_samples=['s'], flat=torch.ones(3)))
    assert all(is_channels_last(t) for t in out['inputs'])
    assert out['data_samples'] == ['s'] and out['flat'].is_contiguous()
    torch.testing.assert_close(out['inputs'][0], x)
    with pytest.raises(TypeError, match='channels_last'):
        apply_channels_last(torch.nn.Conv2d(1, 1, 1), 'yes')


def _watch_backbone_inputs(model, seen):
    model.backbone.register_forward_pre_hook(
        lambda m, args: seen.append(is_channels_last(args[0])))


def test_channels_last_pretraining(demo_root, tmp_path):
    """MoCo v2 (fp32) with channels_last=True through DenseRunner: weights of the online and the
    momentum encoder are channels-last, every backbone input is, and the loss is unchanged."""
    from densepre.engine.runner import DenseRunner
    ref = train(TINY['mocov2'], tmp_path / 'ref', demo_root, FP32)
    cfg = Config.fromfile(TINY['mocov2'])
    cfg.merge_from_dict({'channels_last': True, 'optim_wrapper.dtype': 'float32',
                         'work_dir': str(tmp_path / 'cl'), 'train_cfg.max_epochs': 1,
                         'train_dataloader.dataset.data_root': f'{demo_root}/imagenet/',
                         'train_dataloader.dataset.indices': 8,
                         'experiment_name': f'amp_test_{next(_RUN)}'})
    runner = DenseRunner.from_cfg(cfg)
    seen = []
    _watch_backbone_inputs(runner.model, seen)
    runner.train()
    convs = [m.weight for m in runner.model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 2 * 20  # ResNet-18 + its momentum copy
    assert all(is_channels_last(w) for w in convs)
    assert len(seen) == 2 and all(seen)  # 2 iterations x 1 query view (MoCo v2, asymmetric)
    got = {r['iter']: r for r in logged_scalars(tmp_path / 'cl') if 'loss' in r}
    for it in (1, 2):
        assert got[it]['loss'] == pytest.approx(ref[it]['loss'], rel=1e-4, abs=1e-5)


def test_channels_last_transfer_config(demo_root, tmp_path):
    """The demo FCN (mmseg) config + channels_last=True, built from a derived config: the backbone
    trains on channels-last inputs with channels-last weights."""
    from densepre.engine.runner import DenseRunner
    from densepre.transfer.downstream import register_scope
    voc = f'{demo_root}/VOCdevkit/VOC2012'
    cfg_path = derived_config(tmp_path, DEMO_SEG, 'channels_last = True')
    cfg = Config.fromfile(cfg_path)
    cfg.merge_from_dict({
        'work_dir': str(tmp_path / 'seg'), 'train_cfg.max_iters': 2, 'train_cfg.val_interval': 2,
        'train_dataloader.batch_size': 2, 'train_dataloader.num_workers': 0,
        'train_dataloader.persistent_workers': False, 'val_dataloader.num_workers': 0,
        'val_dataloader.persistent_workers': False,
        'train_dataloader.dataset.data_root': voc, 'val_dataloader.dataset.data_root': voc,
        'experiment_name': f'amp_test_{next(_RUN)}'})
    register_scope(cfg.default_scope)
    runner = DenseRunner.from_cfg(cfg)
    seen = []
    _watch_backbone_inputs(runner.model, seen)
    runner.train()
    assert seen and all(seen)
    assert all(is_channels_last(m.weight) for m in runner.model.modules()
               if isinstance(m, torch.nn.Conv2d) and m.weight.dim() == 4)


# ------------------------------------------------------------------------------ tools
def test_benchmark_modes_interleaved(capsys):
    """benchmark_train_step.py --modes: one config in fp32 and in bf16 + channels-last, with
    ratios against the first row from the same run."""
    import sys
    sys.path.insert(0, osp.join(REPO, 'tools', 'analysis_tools'))
    import benchmark_train_step as bts
    out = bts.main([osp.join(REPO, 'configs/mocov2/mocov2_r50_8xb32_200e.py'),
                    '--modes', 'fp32', 'bf16-cl', '--batch', '2', '--iters', '2', '--warmup', '1',
                    '--size', '32', '--threads', '1', '--mem', 'none', '--cfg-options',
                    'model.backbone.depth=18', 'model.neck.in_channels=512'])
    text = capsys.readouterr().out
    assert 'x first' in text and 'bf16-cl' in text
    a, b = out['results']
    assert (a['mode'], b['mode']) == ('fp32', 'bf16-cl') and a['x_first'] == 1.0
    assert b['x_first'] == pytest.approx(b['median_ms'] / a['median_ms'], rel=1e-3)
    assert out['ratio_b_over_a'] == pytest.approx(b['x_first'], rel=1e-3)
    assert b['last_loss'] != a['last_loss']  # bf16 rounding (same init, same batches)


def test_demo_fast_path_switch(monkeypatch):
    from demo import fast_path_options
    monkeypatch.setenv('DENSEPRE_CPU_BF16', '1')
    assert 'optim_wrapper.dtype=bfloat16' in fast_path_options('auto')
    assert 'optim_wrapper.dtype=float32' in fast_path_options('off')
    monkeypatch.setenv('DENSEPRE_CPU_BF16', '0')
    assert 'optim_wrapper.dtype=float32' in fast_path_options('auto')
    assert 'optim_wrapper.dtype=bfloat16' in fast_path_options('on')
