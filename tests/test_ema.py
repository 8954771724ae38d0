"""The one EMA teacher (densepre.models.utils.ema.EMATeacher) through the shipped configs: bit-equal
to the former mechanisms, robust to device / dtype moves and deepcopy, EMAN, checkpoints."""
import copy
import math
import os.path as osp
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.logging import MessageHub

from densepre.models.utils.ema import EMATeacher
from densepre.registry import MODELS

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, osp.join(REPO, 'tests', 'helpers'))
import reference_losses  # noqa: E402

sys.path.pop(0)

MAX_ITERS = 10


@pytest.fixture(autouse=True)
def _max_iters():
    MessageHub.get_current_instance().update_info('max_iters', MAX_ITERS)


def build(name, **overrides):
    """A tiny (ResNet-18) model of the shipped config of case ``name``, with ``overrides``."""
    case = reference_losses.CASES[name]
    cfg = Config.fromfile(osp.join(REPO, case['config']))
    cfg.merge_from_dict(dict(model=case['model']))
    cfg.merge_from_dict(dict(model=overrides))
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    return model.train()


def views(n=4, size=64, dtype=torch.float32, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(n, 3, size, size, generator=gen).to(dtype) for _ in range(2)]


ALGOS = ['byol', 'mocov2', 'lewel_b', 'lewel_m']


# ------------------------------------------------------------------------------ bit-identical
def former_teacher(model):
    """The EMA this teacher replaced, kept here as the old code path: mmpretrain's ``CosineEMA``
    (BYOL, LEWEL_B: cosine schedule) or MMEngine's ``ExponentialMovingAverage`` (MoCo v2,
    LEWEL_M: fixed momentum) over the online modules, ``update_buffers`` for the former
    ``ema_buffers=True``. ``model.teacher.update`` is rerouted through it: the old EMA averages
    its own copy, which is then copied into the teacher the algorithm runs."""
    from mmengine.model import ExponentialMovingAverage
    from mmpretrain.models.utils import CosineEMA
    teacher = model.teacher
    online = torch.nn.ModuleDict(model.online_modules())
    update_buffers = teacher.buffers_policy != 'copy'
    if teacher.end_momentum is None:
        old = ExponentialMovingAverage(online, momentum=teacher.momentum,
                                       update_buffers=update_buffers)
    else:
        old = CosineEMA(online, momentum=teacher.momentum, end_momentum=teacher.end_momentum,
                        update_buffers=update_buffers)

    def update(modules):
        with torch.no_grad():  # the old EMA module was the one that ran: it saw the forwards
            for dst, src in zip(old.module.state_dict().values(),
                                teacher.module.state_dict().values()):
                dst.copy_(src)
        old.update_parameters(torch.nn.ModuleDict(modules))
        with torch.no_grad():
            for dst, src in zip(teacher.module.state_dict().values(),
                                old.module.state_dict().values()):
                dst.copy_(src)
            teacher.steps += 1

    teacher.update = update
    return old


def float_teacher_tensors(model):
    return {k: v for k, v in model.teacher.module.state_dict().items() if v.is_floating_point()}


@pytest.mark.parametrize('name', list(reference_losses.CASES))
def test_refactor_keeps_losses_bit_identical(name):
    """Losses over 3 SGD steps (and the final target weights) with the one EMA teacher equal,
    bit for bit, those of the same model whose teacher is updated by the library EMA it replaced
    (:func:`former_teacher`), both computed in this process. No value recorded on another CPU
    is involved (issue 20: other CPUs pick other kernels)."""
    case = reference_losses.CASES[name]
    got = reference_losses.run(case, 'new', keep_model=True)
    ref = reference_losses.run(case, 'new', keep_model=True, prepare=former_teacher)
    assert got['losses'] == ref['losses']  # exact float equality, same process
    assert all(math.isfinite(v) for step in got['losses'] for v in step.values())
    ours, theirs = float_teacher_tensors(got['model']), float_teacher_tensors(ref['model'])
    assert ours.keys() == theirs.keys()
    for k in ours:
        assert torch.equal(ours[k], theirs[k]), k
    online = dict(got['model'].named_parameters())  # the teacher is an average, not a copy
    assert any(not torch.equal(t, online[k])
               for k, t in got['model'].teacher.module.named_parameters())


# ------------------------------------------------------------------------------ structure
@pytest.mark.parametrize('name', ALGOS)
def test_one_teacher_of_all_online_modules(name):
    model = build(name)
    teachers = [m for m in model.modules() if isinstance(m, EMATeacher)]
    assert teachers == [model.teacher]
    assert list(model.teacher.module.keys()) == list(model.online_modules().keys())
    if name.startswith('lewel'):
        assert 'aligned_projector' in model.teacher
    online = {n for n, _ in model.named_parameters()}
    assert not any(n.startswith('target_aligned') for n in online)
    assert all(not p.requires_grad for p in model.teacher.parameters())


def test_cosine_schedule_matches_mmpretrain_cosine_ema():
    """momentum_k = end − (end − m)(cos(πk/K) + 1)/2, k = updates so far (CosineEMA values)."""
    from mmpretrain.models.utils import CosineEMA
    net = torch.nn.Linear(3, 2)
    ours = EMATeacher({'net': net}, momentum=0.02, end_momentum=0.)
    theirs = CosineEMA(net, momentum=0.02, end_momentum=0.)
    for _ in range(MAX_ITERS):
        with torch.no_grad():
            net.weight.add_(torch.randn_like(net.weight))
        ours.update({'net': net})
        theirs.update_parameters(net)
        assert torch.equal(ours['net'].weight, theirs.module.weight)
    k = int(ours.steps)
    expected = 0.02 * (math.cos(math.pi * k / MAX_ITERS) + 1) / 2
    assert ours.current_momentum() == pytest.approx(expected, rel=1e-6)


# ------------------------------------------------------------------------------ issue 8 point 1
def _step_moves_every_teacher_parameter(model, dtype):
    """Perturb the online network, run one loss step: every teacher parameter must move by the
    EMA coefficient toward its online counterpart."""
    x = views(dtype=dtype)
    model.loss(x, None)  # (first call: copy)
    before = {n: t.clone() for n, t in model.teacher.module.named_parameters()}
    online = dict(torch.nn.ModuleDict(model.online_modules()).named_parameters())
    with torch.no_grad():
        for p in online.values():
            p.add_(1.0)
    m = model.teacher.current_momentum()
    model.loss(x, None)
    moved = 0
    for n, t in model.teacher.module.named_parameters():
        assert t.dtype == dtype
        expected = before[n] + m * (online[n] - before[n])
        if torch.allclose(t, expected, rtol=1e-5, atol=1e-6) and not torch.equal(t, before[n]):
            moved += 1
    assert moved == len(before), f'{moved} of {len(before)} teacher tensors followed the EMA'


@pytest.mark.parametrize('name', ALGOS)
def test_ema_follows_dtype_move(name):
    """``.to(torch.float64)`` stands in for ``.to('cuda')``: both swap every tensor's storage."""
    model = build(name)
    model.loss(views(), None)
    model.to(torch.float64)
    _step_moves_every_teacher_parameter(model, torch.float64)


@pytest.mark.parametrize('name', ALGOS)
def test_ema_follows_deepcopy(name):
    model = build(name)
    model.loss(views(), None)
    clone = copy.deepcopy(model)
    original = {n: t.clone() for n, t in model.teacher.module.named_parameters()}
    _step_moves_every_teacher_parameter(clone, torch.float32)
    for n, t in model.teacher.module.named_parameters():  # the original is untouched
        assert torch.equal(t, original[n])


def test_ema_before_any_step_then_moved():
    """Moved before the first update (the Runner moves the model before training)."""
    model = build('lewel_b').to(torch.float64)
    _step_moves_every_teacher_parameter(model, torch.float64)


# ------------------------------------------------------------------------------ issue 8 point 2
def test_eman_target_runs_in_eval_mode_on_ema_statistics():
    """LEWEL_B / BYOL configs: EMAN. The target BN normalises with its EMA'd running statistics:
    corrupting them changes the target output (in train mode it changed nothing)."""
    for name in ('lewel_b', 'byol'):
        model = build(name)
        assert model.teacher.buffers_policy == 'eman'
        model.train()
        assert not any(m.training for m in model.teacher.module.modules())
        assert model.backbone.training
        x = views()
        model.loss(x, None)
        ref = model.target_projection(x[0])
        for m in model.teacher.module.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.running_mean.add_(0.5)
        assert not torch.allclose(model.target_projection(x[0]), ref)


@pytest.mark.parametrize('policy', ['copy', 'ema'])
def test_train_mode_target_ignores_running_statistics(policy):
    """The documented alternative: a train-mode target normalises with batch statistics."""
    model = build('lewel_b', teacher_buffers=policy)
    x = views()
    model.loss(x, None)
    assert all(m.training for m in model.teacher.module.modules())
    ref = model.target_projection(x[0])
    for m in model.teacher.module.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.running_mean.add_(0.5)
    torch.testing.assert_close(model.target_projection(x[0]), ref)


@pytest.mark.parametrize('policy', ['copy', 'ema', 'eman'])
def test_buffer_policies(policy):
    """copy: buffers follow the online network; ema / eman: averaged like parameters; eman also
    keeps the teacher in eval mode whatever the parent's mode."""
    bn = torch.nn.BatchNorm1d(3)
    teacher = EMATeacher({'bn': bn}, momentum=0.25, buffers=policy)
    teacher.update({'bn': bn})  # copy
    old = teacher['bn'].running_mean.clone()
    with torch.no_grad():
        bn.running_mean.add_(4.0)
        bn.num_batches_tracked.add_(3)
    teacher.update({'bn': bn})
    expected = bn.running_mean if policy == 'copy' else old.lerp(bn.running_mean, 0.25)
    torch.testing.assert_close(teacher['bn'].running_mean, expected, rtol=0, atol=0)
    assert int(teacher['bn'].num_batches_tracked) == 3  # integers are copied
    teacher.train()
    assert teacher['bn'].training == (policy != 'eman')


def test_shipped_teacher_policies():
    for name, policy in [('byol', 'eman'), ('lewel_b', 'eman'), ('mocov2', 'copy'),
                         ('lewel_m', 'copy')]:
        assert build(name).teacher.buffers_policy == policy, name


# ------------------------------------------------------------------------------ checkpoints
def test_old_checkpoint_keys_load():
    """Checkpoints written before the EMA teacher (``target_net.module.0/1``,
    ``target_aligned.module.projector``) load into the new model with nothing missing."""
    model = build('lewel_b')
    model.loss(views(), None)
    state = model.state_dict()
    old = {}
    for k, v in state.items():
        k = k.replace('target_net.module.backbone.', 'target_net.module.0.')
        k = k.replace('target_net.module.neck.', 'target_net.module.1.')
        k = k.replace('target_net.module.aligned_projector.',
                      'target_aligned.module.projector.')
        old[k] = v
    old['target_aligned.steps'] = state['target_net.steps']
    fresh = build('lewel_b')
    result = fresh.load_state_dict(old, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    for k, v in state.items():
        torch.testing.assert_close(fresh.state_dict()[k], v)


def test_bad_teacher_options_are_refused():
    with pytest.raises(ValueError, match='buffers'):
        build('byol', teacher_buffers='bn')
    with pytest.raises(ValueError, match='1 - tau'):
        EMATeacher({'net': torch.nn.Linear(2, 2)}, momentum=0.99 + 0.02)


def test_mixin_refuses_an_algorithm_without_teacher_settings():
    """An EMATeacherMixin algorithm that does not name its teacher attribute or its EMA arguments
    is refused when the class is defined, naming what is missing."""
    import torch.nn as nn

    from densepre.models.utils.ema import EMATeacherMixin

    with pytest.raises(TypeError, match='NoTeacher .*teacher_attr and teacher_kwargs'):
        type('NoTeacher', (EMATeacherMixin, nn.Module), {})
    with pytest.raises(TypeError, match='NoKwargs .*teacher_kwargs'):
        type('NoKwargs', (EMATeacherMixin, nn.Module), {'teacher_attr': 'target_net'})
