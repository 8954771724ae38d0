"""LEWEL / BYOL fidelity (issue 8 points 3-6) through the shipped configs: g's joint BN batch, the
LARS parameter groups of every LARS config, LEWEL_M's direction and queue span, the release's head
init and crop interpolation."""
import glob
import math
import os.path as osp
import sys

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.logging import MessageHub
from mmengine.optim import build_optim_wrapper
from torch.nn import GroupNorm, LayerNorm
from torch.nn.modules.batchnorm import _BatchNorm

from densepre.registry import MODELS

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, osp.join(REPO, 'tests', 'helpers'))
import reference_losses  # noqa: E402

sys.path.pop(0)


@pytest.fixture(autouse=True)
def _max_iters():
    MessageHub.get_current_instance().update_info('max_iters', 10)


def build(name, **overrides):
    case = reference_losses.CASES[name]
    cfg = Config.fromfile(osp.join(REPO, case['config']))
    cfg.merge_from_dict(dict(model=case['model']))
    cfg.merge_from_dict(dict(model=overrides))
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    return model.train()


def views(n=4, size=64, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(n, 3, size, size, generator=gen) for _ in range(2)]


# ------------------------------------------------------------------------------ point 3
def hand_g(neck, rows):
    """g on rows (M, D) with batch statistics over exactly these rows (train-mode BN)."""
    conv0, bn, _, conv1 = neck.mlp
    h = rows @ conv0.weight.flatten(1).T + (conv0.bias if conv0.bias is not None else 0)
    h = F.batch_norm(h, None, None, bn.weight, bn.bias, training=True, eps=bn.eps)
    out = F.relu(h) @ conv1.weight.flatten(1).T
    return out + (conv1.bias if conv1.bias is not None else 0)


@pytest.mark.parametrize('name', ['lewel_b', 'lewel_m'])
def test_g_normalises_gap_and_pixels_in_one_batch(name):
    """Default (release): g runs ONCE on [GAP(F); every pixel] — one set of BN statistics for
    the global and the dense rows, one running-statistics update per view."""
    model = build(name)
    assert model.neck.batch_mode == 'joint'
    x = views()[0]
    feat = model.backbone(x)[-1].detach()
    n, c, h, w = feat.shape
    pixels = feat.permute(0, 2, 3, 1).reshape(-1, c)
    with torch.no_grad():
        out = hand_g(model.neck, torch.cat([feat.mean((2, 3)), pixels]))
        tracked = int(model.neck.mlp[1].num_batches_tracked)
        z, dense = model.neck.forward_global_and_dense(feat)
    assert int(model.neck.mlp[1].num_batches_tracked) == tracked + 1
    torch.testing.assert_close(z, out[:n], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(dense, out[n:].view(n, h, w, -1).permute(0, 3, 1, 2),
                               rtol=1e-4, atol=1e-5)
    # and the separate mode (the option) normalises each path with its own statistics
    with torch.no_grad():
        model.neck.batch_mode = 'separate'
        z2, dense2 = model.neck.forward_global_and_dense(feat)
    torch.testing.assert_close(z2, hand_g(model.neck, feat.mean((2, 3))), rtol=1e-4, atol=1e-5)
    assert not torch.allclose(z2, z, rtol=1e-3)
    assert int(model.neck.mlp[1].num_batches_tracked) == tracked + 3


def test_joint_mode_is_what_the_model_embeds():
    model = build('lewel_b')
    x = views()[0]
    with torch.no_grad():
        z, _ = model.online_embed(x)
        feat = model.backbone(x)[-1]
        n, c = feat.shape[:2]
        rows = torch.cat([feat.mean((2, 3)), feat.permute(0, 2, 3, 1).reshape(-1, c)])
        torch.testing.assert_close(z, hand_g(model.neck, rows)[:n], rtol=1e-4, atol=1e-5)


def test_coupled_head_paths_agree_only_in_eval_mode():
    """The docstring's claim: global and per-pixel paths are one function in eval mode."""
    model = build('lewel_b')
    feat = torch.randn(2, 512, 1, 1)
    neck = model.neck.eval()
    with torch.no_grad():
        torch.testing.assert_close(neck((feat, ))[0], neck.forward_dense(feat).flatten(1))
    neck.train()
    with torch.no_grad():
        feat = torch.randn(4, 512, 2, 2)
        assert not torch.allclose(neck((feat, ))[0], neck.forward_dense(feat).mean((2, 3)))


# ------------------------------------------------------------------------------ point 4
def _is_lars(path):
    return Config.fromfile(path).optim_wrapper.optimizer.type == 'FusedLARS'


# every pretraining config of BYOL / LEWEL / MoCo whose resolved optimizer is LARS
LARS_CONFIGS = [p for d in ('byol', 'lewel', 'mocov2')
                for p in sorted(glob.glob(osp.join(REPO, 'configs', d, '**', '*.py'),
                                          recursive=True)) if _is_lars(p)]


def test_lars_configs_found():
    names = {osp.basename(p) for p in LARS_CONFIGS}
    assert {'byol_r50_16xb64-lars_200e.py', 'lewel_b_r50_16xb64-lars_200e.py',
            'lewel_b_r50_16xb64-release_200e.py'} <= names


@pytest.mark.parametrize('path', LARS_CONFIGS, ids=lambda p: osp.relpath(p, REPO))
def test_lars_parameter_groups(path):
    """Every LARS config: biases and all norm parameters get wd 0 AND no LARS adaptation; every
    other weight gets the released wd 1.5e-6 and LARS — checked on the resolved groups."""
    cfg = Config.fromfile(path)
    assert cfg.optim_wrapper.optimizer.type == 'FusedLARS'
    assert cfg.optim_wrapper.optimizer.weight_decay == 1.5e-6
    model = MODELS.build(cfg.model)
    ow = dict(cfg.optim_wrapper, type='OptimWrapper')
    ow.pop('loss_scale', None)
    optim = build_optim_wrapper(model, ow).optimizer
    group_of = {id(p): g for g in optim.param_groups for p in g['params']}
    special = {id(p) for m in model.modules() for n, p in m.named_parameters(recurse=False)
               if n == 'bias' or isinstance(m, (_BatchNorm, GroupNorm, LayerNorm))}
    counts = dict(special=0, weight=0)
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        g = group_of[id(p)]
        if id(p) in special:
            assert g['weight_decay'] == 0 and g.get('lars_exclude', False), name
            counts['special'] += 1
        else:
            assert g['weight_decay'] == 1.5e-6 and not g.get('lars_exclude', False), name
            counts['weight'] += 1
    assert counts['special'] > 100 and counts['weight'] > 50
    # the teacher is not optimised
    assert not any(id(p) in group_of for p in model.teacher.parameters())


def test_lars_exclude_means_plain_sgd_momentum():
    """mmpretrain's LARS: a ``lars_exclude`` group takes the plain (momentum) SGD step."""
    from mmpretrain.engine.optimizers import LARS
    a, b = torch.nn.Parameter(torch.ones(3)), torch.nn.Parameter(torch.ones(3))
    opt = LARS([dict(params=[a], weight_decay=0., lars_exclude=True), dict(params=[b])],
               lr=0.5, momentum=0.9, weight_decay=1.5e-6)
    a.grad = b.grad = torch.full((3, ), 0.1)
    opt.step()
    torch.testing.assert_close(a.detach(), torch.full((3, ), 1 - 0.05))
    assert not torch.allclose(b.detach(), torch.full((3, ), 1 - 0.05))  # trust ratio applied


# ------------------------------------------------------------------------------ point 5
def test_lewel_m_is_one_directional_and_queue_spans_mocov2_iterations():
    lewel_m, moco = build('lewel_m'), build('mocov2')
    assert lewel_m.symmetric is False and moco.symmetric is False
    sym = build('lewel_m', symmetric=True)
    for model in (lewel_m, moco, sym):
        model.loss(views(), None)
        assert int(model.queue.ptr) == 4  # one key batch per iteration, as MoCo v2
    x = views()
    out = build('lewel_m').loss(x, None)
    assert set(out) == {'loss_global', 'loss_aligned', 'l_global', 'l_aligned'}


def test_lewel_m_symmetric_enqueues_view2_keys():
    model = build('lewel_m', symmetric=True)
    x = views()
    with torch.no_grad():
        model.loss(x, None)
        k2 = F.normalize(model.target_embed(x[1])[0], dim=1)
    torch.testing.assert_close(model.queue.queue[:, :4].T, k2, rtol=1e-4, atol=1e-5)


# ------------------------------------------------------------------------------ point 6
RELEASE = osp.join(REPO, 'configs/lewel/lewel_b_r50_16xb64-release_200e.py')


def test_release_config_heads_use_kaiming_fan_out_without_bias():
    cfg = Config.fromfile(RELEASE)
    cfg.merge_from_dict(dict(model=reference_losses.CASES['lewel_b']['model']))
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    heads = [model.neck, model.aligned_projector, model.head.predictor,
             model.aligned_head.predictor]
    for head in heads:
        for m in head.modules():
            if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
                assert m.bias is None
                fan_out = m.weight.shape[0]
                std = m.weight.std().item()
                assert std == pytest.approx(math.sqrt(2.0 / fan_out), rel=0.1)
    # the default (paper-named) config keeps PyTorch's default init: ~10x smaller last layer
    default = build('lewel_b')
    last = default.neck.mlp[-1].weight
    assert last.std().item() < 0.3 * math.sqrt(2.0 / last.shape[0])


def test_release_config_recipe():
    cfg = Config.fromfile(RELEASE)
    crops = [t for v in cfg.train_dataloader.dataset.pipeline[1].views for t in v.transforms
             if t.type == 'GeoRandomResizedCrop']
    assert len(crops) == 2
    assert all(t.interpolation == 'bilinear' and t.crop_ratio_range == (0.2, 1.)
               for t in crops)
    paper = Config.fromfile(osp.join(REPO, 'configs/lewel/lewel_b_r50_8xb64_200e.py'))
    assert all(t.interpolation == 'bicubic' for v in paper.train_dataloader.dataset.pipeline[1].views
               for t in v.transforms if t.type == 'GeoRandomResizedCrop')
    m = cfg.model
    assert (m.teacher_buffers, m.base_momentum, m.neck.batch_mode) == ('eman', 0.02, 'joint')
    assert cfg.auto_scale_lr.base_batch_size == 1024 and cfg.optim_wrapper.optimizer.lr == 3.6


def test_400e_config_names_the_release_recipe():
    text = open(osp.join(REPO, 'configs/lewel/lewel_b_r50_8xb64_400e.py')).read()
    for fact in ('no EMAN', '0.996', 'LARS lr 7.2', '4096'):
        assert fact in text
