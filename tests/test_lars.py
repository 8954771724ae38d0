"""FusedLARS (densepre/engine/optimizers/lars.py): equal to mmpretrain's LARS (default variant) and
to independent transcriptions of the LEWEL / CLoVE released LARS steps over several steps with a
changing lr, and no host synchronisation inside a step."""
import copy
import glob
import os.path as osp

import pytest
import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from torch.utils._python_dispatch import TorchDispatchMode

from densepre.engine.optimizers import FusedLARS
from densepre.registry import OPTIMIZERS

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
STEPS = 6
CONV, ZERO = 0, 4  # indices in Net().parameters(): conv.weight, zero.weight
LRS = [0.05, 0.4, 0.9, 1.6, 1.2, 0.7]  # warm-up then decay: the lr changes every step


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.zero = nn.Conv2d(8, 8, 1, bias=False)  # ‖w‖ = 0 at the start: the guard
        self.fc = nn.Linear(8, 5)
        self.unused = nn.Linear(2, 2)  # never gets a gradient
        nn.init.zeros_(self.zero.weight)

    def forward(self, x):
        x = torch.relu(self.bn(self.conv(x)))
        x = x + self.zero(x)
        return self.fc(x.mean((2, 3)))


def groups(model, wd):
    """Release-like groups: 1-D parameters without wd and without LARS adaptation."""
    one_d = [p for p in model.parameters() if p.ndim == 1]
    other = [p for p in model.parameters() if p.ndim > 1]
    return [dict(params=one_d, weight_decay=0., lars_exclude=True),
            dict(params=other, weight_decay=wd)]


def run(model, optimizer, data, lrs=LRS):
    """Train ``len(lrs)`` steps; yields the parameters after each step."""
    for step, lr in enumerate(lrs):
        for g in optimizer.param_groups:
            g['lr'] = lr
        x, y = data[step]
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()
        yield [p.detach().clone() for p in model.parameters()]


def make(dtype, seed=0):
    torch.manual_seed(seed)
    model = Net().to(dtype)
    data = [(torch.randn(4, 3, 6, 6, dtype=dtype), torch.randint(0, 5, (4, )))
            for _ in range(STEPS)]
    return model, data


class CountLocalScalar(TorchDispatchMode):
    """Counts host reads of tensor values (``.item()``, ``bool()``, ``int()``, ``float()`` all
    dispatch ``aten._local_scalar_dense``)."""

    def __init__(self):
        super().__init__()
        self.count = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func is torch.ops.aten._local_scalar_dense.default:
            self.count += 1
        return func(*args, **(kwargs or {}))


# ------------------------------------------------------------------------------ mmpretrain
@pytest.mark.parametrize('nesterov', [False, True])
@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
def test_default_variant_equals_mmpretrain_lars(dtype, nesterov):
    from mmpretrain.engine.optimizers import LARS
    ref_model, data = make(dtype)
    model = copy.deepcopy(ref_model)
    kw = dict(lr=0.1, momentum=0.9, weight_decay=1e-4, nesterov=nesterov)
    ref = LARS(groups(ref_model, 1e-4), **kw)
    fused = FusedLARS(groups(model, 1e-4), **kw)
    for step, (a, b) in enumerate(zip(run(ref_model, ref, data), run(model, fused, data))):
        for pa, pb in zip(a, b):
            # measured: bit-identical on CPU (same kernels, λ·lr in float64 as mmpretrain's floats)
            assert (pa - pb).abs().max() <= 1e-6, step
    assert b[ZERO].abs().sum() > 0  # the zero-initialised weight moved (λ = 1 guard)


def test_default_variant_dampening_and_no_momentum():
    from mmpretrain.engine.optimizers import LARS
    for kw in (dict(momentum=0.9, dampening=0.3), dict(momentum=0.)):
        ref_model, data = make(torch.float64, seed=1)
        model = copy.deepcopy(ref_model)
        ref = LARS(groups(ref_model, 1e-3), lr=0.1, weight_decay=1e-3, **kw)
        fused = FusedLARS(groups(model, 1e-3), lr=0.1, weight_decay=1e-3, **kw)
        for a, b in zip(run(ref_model, ref, data), run(model, fused, data)):
            for pa, pb in zip(a, b):
                assert (pa - pb).abs().max() <= 1e-12


def test_state_dict_is_mmpretrain_compatible():
    """A checkpoint of mmpretrain's LARS resumes into FusedLARS and continues identically."""
    from mmpretrain.engine.optimizers import LARS
    ref_model, data = make(torch.float64)
    ref = LARS(groups(ref_model, 1e-4), lr=0.1, momentum=0.9, weight_decay=1e-4)
    ref_run = run(ref_model, ref, data)
    next(ref_run), next(ref_run)
    model = copy.deepcopy(ref_model)
    fused = FusedLARS(groups(model, 1e-4), lr=0.1, momentum=0.9, weight_decay=1e-4)
    fused.load_state_dict(copy.deepcopy(ref.state_dict()))
    for a, b in zip(ref_run, run(model, fused, data[2:], LRS[2:])):
        for pa, pb in zip(a, b):
            assert (pa - pb).abs().max() <= 1e-12


# ------------------------------------------------------------------------------ releases
def lewel_release_step(params_groups, state, lr_of, eta=0.001):
    """Independent transcription of LEWEL's released LARS step (utils/LARS.py): λ = η‖w‖ /
    (‖g‖ + β‖w‖) with Python floats, lr inside the momentum buffer."""
    for group in params_groups:
        wd, m, lr = group['weight_decay'], group['momentum'], lr_of
        for p in group['params']:
            if p.grad is None:
                continue
            if group.get('lars_exclude', False):
                local = 1.
            else:
                wn, gn = float(p.norm()), float(p.grad.norm())
                local = eta * wn / (gn + wd * wn)
            d = (p.grad + wd * p) * (local * lr)
            if id(p) in state:
                state[id(p)] = m * state[id(p)] + d
            else:
                state[id(p)] = d.clone()
            p.data -= state[id(p)]


def clove_release_step(params_groups, state, lr_of, eta=0.001, eps=1e-8):
    """Independent transcription of CLoVE's released step (contrast/lars.py around torch SGD):
    g' = g + βw (β > 0), λ = η‖w‖ / (‖g'‖ + ε) for non-ignored groups (1 if a norm is 0),
    then SGD without wd: v = m·v + λg', w -= lr·v with the current lr."""
    for group in params_groups:
        wd, m = group['weight_decay'], group['momentum']
        for p in group['params']:
            if p.grad is None:
                continue
            g = p.grad + wd * p if wd > 0 else p.grad
            if not group.get('lars_exclude', False):
                wn, gn = p.norm(), g.norm()
                g = g * (eta * wn / (gn + eps) if wn > 0 and gn > 0 else 1.0)
            state[id(p)] = m * state[id(p)] + g if id(p) in state else g.clone()
            p.data -= lr_of * state[id(p)]


@pytest.mark.parametrize('variant,reference', [('lewel_release', lewel_release_step),
                                               ('clove_release', clove_release_step)])
def test_release_variants_equal_their_transcription(variant, reference):
    ref_model, data = make(torch.float64)
    model = copy.deepcopy(ref_model)
    fused = FusedLARS(groups(model, 2e-5), lr=0.1, momentum=0.9, weight_decay=2e-5,
                      variant=variant)
    ref_groups = [dict(g, momentum=0.9) for g in groups(ref_model, 2e-5)]
    state = {}
    for step, got in enumerate(run(model, fused, data)):
        x, y = data[step]
        ref_model.zero_grad()
        nn.functional.cross_entropy(ref_model(x), y).backward()
        with torch.no_grad():
            reference(ref_groups, state, LRS[step])
        for pa, pb in zip(ref_model.parameters(), got):
            assert (pa.detach() - pb).abs().max() <= 1e-12, step


def test_the_three_formulas_differ_when_the_lr_changes():
    """Not a tautology check: over the same steps the lr placement (CLoVE) and ε (LEWEL) move the
    parameters differently from mmpretrain's formula."""
    finals = {}
    for variant in ('mmpretrain', 'lewel_release', 'clove_release'):
        model, data = make(torch.float64)
        opt = FusedLARS(groups(model, 2e-5), lr=0.1, momentum=0.9, weight_decay=2e-5,
                        variant=variant)
        *_, finals[variant] = run(model, opt, data)
    ref = finals['mmpretrain'][CONV]
    assert (finals['clove_release'][CONV] - ref).abs().max() > 1e-3 * ref.abs().max()
    assert not torch.equal(finals['lewel_release'][CONV], ref)  # ε
    # ‖w‖ = 0: λ = 0 for LEWEL's release (the weight never moves), 1 for mmpretrain's
    assert finals['lewel_release'][ZERO].abs().sum() == 0
    assert finals['mmpretrain'][ZERO].abs().sum() > 0


# ------------------------------------------------------------------------------ no host sync
@pytest.mark.parametrize('variant', ['mmpretrain', 'lewel_release', 'clove_release'])
def test_step_reads_no_tensor_value_on_the_host(variant):
    model, data = make(torch.float32)
    opt = FusedLARS(groups(model, 1e-4), lr=0.1, momentum=0.9, weight_decay=1e-4,
                    variant=variant)
    for step in range(2):  # first step creates the buffers, the second uses them
        x, y = data[step]
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        with CountLocalScalar() as counter:
            opt.step()
        assert counter.count == 0


def test_mmpretrain_lars_does_sync():
    """The counter above is not blind: mmpretrain's LARS reads two norms per adapted tensor."""
    from mmpretrain.engine.optimizers import LARS
    model, data = make(torch.float32)
    opt = LARS(groups(model, 1e-4), lr=0.1, momentum=0.9, weight_decay=1e-4)
    x, y = data[0]
    nn.functional.cross_entropy(model(x), y).backward()
    with CountLocalScalar() as counter:
        opt.step()
    assert counter.count == 2 * 3  # conv, zero, fc weights (unused has no grad)


def test_bad_arguments():
    p = [nn.Parameter(torch.ones(2))]
    with pytest.raises(ValueError, match='variant'):
        FusedLARS(p, lr=0.1, variant='lars')
    with pytest.raises(ValueError, match='Nesterov'):
        FusedLARS(p, lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match='weight_decay'):
        FusedLARS(p, lr=0.1, weight_decay=-1.)


# ------------------------------------------------------------------------------ configs
LARS_CONFIGS = sorted(
    {p for pattern in ('byol/*lars*.py', 'lewel/*lars*.py', 'lewel/*release*.py', 'clove/*.py',
                       'clove/ablations/**/*.py', 'demo/clove*.py')
     for p in glob.glob(osp.join(REPO, 'configs', pattern), recursive=True)})


def test_registered():
    assert OPTIMIZERS.get('FusedLARS') is FusedLARS


@pytest.mark.parametrize('path', LARS_CONFIGS, ids=lambda p: osp.relpath(p, REPO))
def test_lars_configs_use_fused_lars(path):
    """Every LARS pretraining config builds FusedLARS; the `-release` configs use their
    release's formula, every other one mmpretrain's."""
    cfg = Config.fromfile(path)
    opt = cfg.optim_wrapper.optimizer
    assert opt.type == 'FusedLARS'
    expected = 'mmpretrain'
    if 'release' in osp.basename(path):
        expected = ('clove_release' if osp.relpath(path, REPO).startswith('configs/clove/')
                    else 'lewel_release')  # not '/clove/' in path: a checkout may be named so
    assert opt.get('variant', 'mmpretrain') == expected


def test_config_builds_through_the_optim_wrapper():
    """The public path: a config's optim_wrapper (densepre scope) builds FusedLARS with the
    constructor's bias/norm groups, and a step through the wrapper runs."""
    cfg = Config.fromfile(osp.join(REPO, 'configs/_base_/schedules/lars_coslr-200e.py'))
    ow = dict(cfg.lars_optim_wrapper)
    ow.pop('_delete_', None)
    ow.pop('loss_scale', None)
    ow['type'] = 'OptimWrapper'
    model, data = make(torch.float32)
    wrapper = build_optim_wrapper(model, ow)
    assert isinstance(wrapper.optimizer, FusedLARS)
    excluded = [g for g in wrapper.optimizer.param_groups if g.get('lars_exclude')]
    assert excluded and all(g['weight_decay'] == 0 for g in excluded)
    before = [p.detach().clone() for p in model.parameters()]
    x, y = data[0]
    wrapper.update_params(nn.functional.cross_entropy(model(x), y))
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_compare_variants_tool(tmp_path, capsys):
    """tools/analysis_tools/compare_lars_variants.py on a real model under a linear warm-up:
    at step 2 the release's lr placement gives the larger step, as predicted."""
    import json
    import sys
    sys.path.insert(0, osp.join(REPO, 'tools', 'analysis_tools'))
    try:
        from compare_lars_variants import main
    finally:
        sys.path.pop(0)
    out = tmp_path / 'cmp.json'
    main([osp.join(REPO, 'tests/configs/lewel_b_r18_tiny_lars.py'), '--batch', '2', '--steps',
          '2', '--warmup-iters', '10', '--json', str(out)])
    rows = json.loads(out.read_text())['rows']
    assert 'clove/mm step' in capsys.readouterr().out
    assert rows[1]['lr_placement_prediction'] > 1.2 and rows[1]['clove_release_step_ratio'] > 1.1
    assert rows[0]['clove_release_drift'] > 0  # ‖g + βw‖ vs ‖g‖ + β‖w‖ already at step 1
