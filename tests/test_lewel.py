"""LEWEL: numerics against hand computation, config builds, training and resume through the Runner.

Hand computations use explicit loops over positions / maps / groups on tiny tensors, independent
of the vectorised implementation in densepre/models/utils/alignment.py and lewel.py.
"""
import glob
import json
import math
import os.path as osp
import re
import sys

import pytest
import torch
import torch.nn.functional as F
from mmcv.transforms import Compose
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.logging import MessageHub
from mmengine.optim import build_optim_wrapper

from densepre.models.losses import BatchInfoNCELoss
from densepre.models.losses import batch_infonce
from densepre.models.necks import CoupledProjectionHead
from densepre.models.utils.alignment import (aligned_pooling, alignment_maps, map_index,
                                             random_maps, uniform_maps)
from densepre.registry import HOOKS, MODELS

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
LEWEL_CONFIGS = sorted(glob.glob(osp.join(REPO, 'configs', 'lewel', '**', '*.py'),
                             recursive=True))
LEWEL_B = osp.join(REPO, 'configs/lewel/lewel_b_r50_8xb64_200e.py')
LEWEL_M = osp.join(REPO, 'configs/lewel/lewel_m_r50_8xb32_200e.py')

# Tiny versions of the real configs: ResNet-18 (D = 512), small heads, d = 32, h = 4, c = 16.
TINY_MODEL = {
    'b': dict(
        backbone=dict(depth=18),
        neck=dict(in_channels=512, hid_channels=64, out_channels=32),
        aligned_projector=dict(in_channels=512, hid_channels=64, out_channels=16),
        head=dict(predictor=dict(in_channels=32, hid_channels=64, out_channels=32)),
        aligned_head=dict(predictor=dict(in_channels=16, hid_channels=64, out_channels=16))),
    'm': dict(
        queue_len=16, feat_dim=32,
        backbone=dict(depth=18),
        neck=dict(in_channels=512, hid_channels=64, out_channels=32),
        aligned_projector=dict(in_channels=512, hid_channels=64, out_channels=16)),
}


def tiny_model(kind, **overrides):
    cfg = Config.fromfile(LEWEL_B if kind == 'b' else LEWEL_M)
    cfg.merge_from_dict(dict(model=TINY_MODEL[kind]))
    cfg.merge_from_dict(dict(model=overrides))
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    return model.train()


@pytest.fixture(autouse=True)
def _max_iters():
    MessageHub.get_current_instance().update_info('max_iters', 100)  # CosineEMA reads it


# ------------------------------------------------------------------------------ alignment maps
def hand_maps(dense, temperature):
    """Sec. 3.2 with loops: L2-normalise each pixel's d-vector, then softmax each map over HW."""
    n, d, h, w = dense.shape
    out = torch.empty_like(dense)
    for b in range(n):
        normed = torch.empty(d, h, w)
        for i in range(h):
            for j in range(w):
                v = dense[b, :, i, j]
                normed[:, i, j] = v / math.sqrt(float((v * v).sum()))
        for k in range(d):
            e = [[math.exp(float(normed[k, i, j]) / temperature) for j in range(w)]
                 for i in range(h)]
            total = sum(sum(row) for row in e)
            out[b, k] = torch.tensor(e) / total
    return out


@pytest.mark.parametrize('temperature', [1.0, 0.3])
def test_maps_nonnegative_sum_to_one_and_match_hand(temperature):
    torch.manual_seed(0)
    dense = torch.randn(2, 6, 3, 4, dtype=torch.float64)
    maps = alignment_maps(dense, temperature)
    assert maps.shape == dense.shape
    assert (maps >= 0).all()
    torch.testing.assert_close(maps.sum(dim=(2, 3)), torch.ones(2, 6, dtype=torch.float64))
    torch.testing.assert_close(maps, hand_maps(dense, temperature).double())


def test_maps_are_scale_invariant_per_pixel():
    """The per-pixel L2 normalisation makes the maps ignore each pixel's vector length."""
    torch.manual_seed(0)
    dense = torch.randn(1, 5, 3, 3, dtype=torch.float64)
    scale = torch.rand(1, 1, 3, 3, dtype=torch.float64) * 10 + 0.1
    torch.testing.assert_close(alignment_maps(dense), alignment_maps(dense * scale))


# ------------------------------------------------------------------------------ pooling, Eq. 1-2
@pytest.mark.parametrize('num_groups', [1, 2, 4])
def test_gap_is_the_uniform_map_special_case(num_groups):
    """Eq. 1 with W = 1/(HW) is GAP: every aligned representation equals GAP(F)."""
    torch.manual_seed(0)
    feat = torch.randn(3, 8, 4, 5, dtype=torch.float64)
    gap = feat.mean(dim=(2, 3))
    y = aligned_pooling(feat, uniform_maps(8, (4, 5), dtype=torch.float64), num_groups)
    assert y.shape == (3, 8 // num_groups, 8)
    for k in range(8 // num_groups):
        torch.testing.assert_close(y[:, k], gap)
    # ... and a per-pixel projection that is the same at every position gives uniform maps
    dense = torch.randn(3, 8, 1, 1, dtype=torch.float64).expand(3, 8, 4, 5)
    torch.testing.assert_close(aligned_pooling(feat, alignment_maps(dense), num_groups),
                               gap[:, None].expand_as(y))


def test_grouping_picks_map_k_h_plus_i_for_channel_group_i():
    """D = 4 channels in h = 2 groups, d = 4 one-hot maps -> d/h = 2 aligned representations.

    F[c, s] = 10 c + s (s = pixel index in a 2x2 map); map j is one-hot at pixel P[j].
    Eq. 2 (1-based): y_k = [W_{(k-1)h+1} ⊗ F^(1), W_{kh} ⊗ F^(2)], so (0-based) group i of y_k
    is read at pixel P[k*h + i].
    """
    feat = (10 * torch.arange(4.)[:, None] + torch.arange(4.)[None]).view(1, 4, 2, 2)
    P = [3, 1, 0, 2]
    maps = torch.zeros(1, 4, 4)
    for j, s in enumerate(P):
        maps[0, j, s] = 1
    y = aligned_pooling(feat, maps.view(1, 4, 2, 2), num_groups=2)
    expected = torch.tensor([[
        [3., 13., 21., 31.],  # k=0: group 0 (ch 0,1) <- map 0 (pixel 3); group 1 <- map 1 (px 1)
        [0., 10., 22., 32.],  # k=1: group 0 <- map 2 (pixel 0); group 1 <- map 3 (pixel 2)
    ]])
    torch.testing.assert_close(y, expected)
    # the paper's 1-based index (k-1)*h + i for k in 1..d/h, i in 1..h
    for k1 in (1, 2):
        for i1 in (1, 2):
            assert map_index(k1 - 1, i1 - 1, 2) == (k1 - 1) * 2 + i1 - 1


@pytest.mark.parametrize('num_groups', [1, 2, 4])
def test_pooling_matches_loop_reference(num_groups):
    torch.manual_seed(0)
    n, D, d, h, w = 2, 8, 8, 3, 2
    feat = torch.randn(n, D, h, w, dtype=torch.float64)
    maps = alignment_maps(torch.randn(n, d, h, w, dtype=torch.float64))
    y = aligned_pooling(feat, maps, num_groups)
    g = D // num_groups
    ref = torch.zeros(n, d // num_groups, D, dtype=torch.float64)
    for b in range(n):
        for k in range(d // num_groups):
            for i in range(num_groups):
                m = maps[b, k * num_groups + i]
                for c in range(i * g, (i + 1) * g):
                    ref[b, k, c] = sum(m[p, q] * feat[b, c, p, q]
                                       for p in range(h) for q in range(w))
    torch.testing.assert_close(y, ref)
    # maps shared by the batch (uniform / random modes) give the same as per-image copies
    shared = random_maps(d, (h, w), dtype=torch.float64)
    torch.testing.assert_close(aligned_pooling(feat, shared, num_groups),
                               aligned_pooling(feat, shared.expand(n, d, h, w), num_groups))


def test_pooling_rejects_bad_groups():
    with pytest.raises(ValueError, match='num_groups'):
        aligned_pooling(torch.randn(1, 6, 2, 2), torch.rand(1, 4, 2, 2), 4)


# ------------------------------------------------------------------------------ coupled head
def test_coupled_head_is_one_mlp_for_global_and_dense():
    torch.manual_seed(0)
    head = CoupledProjectionHead(8, 16, 4)
    names = [n for n, _ in head.named_parameters()]
    assert names == ['mlp.0.weight', 'mlp.0.bias', 'mlp.1.weight', 'mlp.1.bias',
                     'mlp.3.weight', 'mlp.3.bias']  # conv - BN - ReLU - conv: one parameter set
    n_params = sum(p.numel() for p in head.parameters())
    assert n_params == 8 * 16 + 16 + 16 + 16 + 16 * 4 + 4
    x = torch.randn(5, 8, 1, 1)
    for mode in ('train', 'eval'):
        getattr(head, mode)()
        torch.testing.assert_close(head((x, ))[0], head.forward_dense(x).flatten(1))
        torch.testing.assert_close(head((x, ))[0], head.project(x.flatten(1)))
    # the global path is g(GAP(F)): the dense path applied to the pooled map
    head.train()
    feat = torch.randn(5, 8, 3, 3)
    # the per-pixel matmuls are the 1x1-conv MLP (same parameters, same BN statistics)
    torch.testing.assert_close(head.forward_dense(feat), head.mlp(feat))
    torch.testing.assert_close(head((feat, ))[0],
                               head.forward_dense(feat.mean((2, 3), keepdim=True)).flatten(1))


def test_coupled_head_options():
    head = CoupledProjectionHead(8, 16, 4, with_last_bias=False, norm_cfg=None)
    assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in head.modules())
    assert head.mlp[-1].bias is None
    assert len(CoupledProjectionHead(8, 16, 4, num_layers=3).mlp) == 7


@pytest.mark.parametrize('kind', ['b', 'm'])
def test_maps_come_from_the_global_head(kind):
    """With beta = 1 (global loss weight 0) g still receives gradient, through the maps only;
    with a separate map head (Table 5 'w/o coupled head') it does not."""
    x = [torch.randn(4, 3, 64, 64), torch.randn(4, 3, 64, 64)]
    coupled = tiny_model(kind, beta=1.0)
    assert coupled.map_head is None and not any(k.startswith('map_head') for k in
                                                coupled.state_dict())
    sum(v for k, v in coupled.loss(x, None).items() if 'loss' in k).backward()
    assert coupled.neck.mlp[0].weight.grad.abs().sum() > 0

    separate = tiny_model(kind, beta=1.0, map_head=dict(
        type='CoupledProjectionHead', in_channels=512, hid_channels=64, out_channels=32))
    sum(v for k, v in separate.loss(x, None).items() if 'loss' in k).backward()
    assert separate.neck.mlp[0].weight.grad.abs().sum() == 0
    assert separate.map_head.mlp[0].weight.grad.abs().sum() > 0
    assert any(k.startswith(('target_net.module.map_head', 'encoder_k.module.map_head'))
               for k in separate.state_dict())  # the one teacher averages the map head too


# ------------------------------------------------------------------------------ in-batch InfoNCE
def test_aligned_negatives_are_the_other_images():
    torch.manual_seed(0)
    n, k, c, tau = 3, 2, 4, 0.2
    q, key = torch.randn(n, k, c), torch.randn(n, k, c)
    loss_mod = BatchInfoNCELoss(temperature=tau)
    logits, labels = loss_mod.logits_and_labels(q, key)
    assert logits.shape == (k, n, n) and labels.shape == (k, n)
    for kk in range(k):
        for a in range(n):
            assert labels[kk, a] == a  # the positive: the same image's key, same embedding k
            for b in range(n):        # every other entry of the row: another image's key k
                expected = F.cosine_similarity(q[a, kk], key[b, kk], dim=0) / tau
                assert logits[kk, a, b].item() == pytest.approx(expected.item(), rel=1e-5)
    # keys of other embedding indices of the same image are not negatives
    other = key.clone()
    other[:, 1] = torch.randn(n, c)
    torch.testing.assert_close(loss_mod.logits_and_labels(q, other)[0][0], logits[0])
    hand = sum(F.cross_entropy(logits[kk], torch.arange(n)) for kk in range(k)) / k
    torch.testing.assert_close(loss_mod(q, key), hand)


def test_aligned_negatives_gathered_across_processes(monkeypatch):
    """Rank 1 of 2: the keys of rank 0 are extra negatives, the labels point at rank 1's rows of
    the gathered batch, and the local positives keep their gradient."""
    torch.manual_seed(0)
    n, k, c = 2, 3, 4
    q = torch.randn(n, k, c, requires_grad=True)
    key = torch.randn(n, k, c, requires_grad=True)
    remote = F.normalize(torch.randn(n, k, c), dim=-1)
    monkeypatch.setattr(batch_infonce, 'get_world_size', lambda: 2)
    monkeypatch.setattr(batch_infonce, 'get_rank', lambda: 1)
    monkeypatch.setattr(batch_infonce, 'all_gather', lambda x: [remote, x.clone()])
    loss_mod = BatchInfoNCELoss(0.2)
    logits, labels = loss_mod.logits_and_labels(q, key)
    assert logits.shape == (k, n, 2 * n)
    assert (labels == torch.arange(n) + n).all()
    kn = F.normalize(key, dim=-1)
    torch.testing.assert_close(logits[0, 0, n + 1], (F.normalize(q, dim=-1)[0, 0] @ kn[1, 0]) / .2)
    torch.testing.assert_close(logits[0, 0, 1], (F.normalize(q, dim=-1)[0, 0] @ remote[1, 0]) / .2)
    loss_mod(q, key).backward()
    assert key.grad is not None and key.grad.abs().sum() > 0


# ------------------------------------------------------------------------------ loss assembly
def hand_embed(model, img):
    """Backbone -> g once on [GAP(F); every pixel] (one BN batch) -> hand maps -> looped grouped
    pooling -> p."""
    feat = model.backbone(img)[-1]
    g = model.neck.mlp
    n, D, H, W = feat.shape
    rows = torch.cat([feat.mean(dim=(2, 3)), feat.permute(0, 2, 3, 1).reshape(-1, D)])
    out = g(rows[:, :, None, None]).flatten(1)
    z, dense = out[:n], out[n:].view(n, H, W, -1).permute(0, 3, 1, 2)
    maps = hand_maps(dense.detach().double(), model.temperature).float()
    h, K = model.num_groups, model.num_maps // model.num_groups
    y = torch.zeros(n, K, D)
    for k in range(K):
        for i in range(h):
            grp = slice(i * D // h, (i + 1) * D // h)
            y[:, k, grp] = torch.einsum('ncs,ns->nc', feat[:, grp].flatten(2),
                                        maps[:, k * h + i].flatten(1))
    za = model.aligned_projector([y.flatten(0, 1)])[0].view(n, K, -1)
    return z, za


def nmse(pred, target):
    return (2 - 2 * F.cosine_similarity(pred, target, dim=-1)).mean()


def test_lewel_b_loss_terms_sum_to_weighted_total():
    """At the first step the EMA target equals the online network, so (with a train-mode target,
    ``teacher_buffers='copy'``) the targets can be recomputed with the online modules;
    L = (1-β)L_g + βL_a with β = 0.3 (asymmetric, so swapped weights would show)."""
    beta = 0.3
    model = tiny_model('b', beta=beta, teacher_buffers='copy')
    torch.manual_seed(1)
    x = [torch.randn(4, 3, 96, 96), torch.randn(4, 3, 96, 96)]
    out = model.loss(x, None)
    assert set(out) == {'loss_global', 'loss_aligned', 'l_global', 'l_aligned'}
    total, log_vars = model.parse_losses(out)
    with torch.no_grad():
        (z1, a1), (z2, a2) = hand_embed(model, x[0]), hand_embed(model, x[1])
        q, s = model.head.predictor, model.aligned_head.predictor
        lg = nmse(q([z1])[0], z2) + nmse(q([z2])[0], z1)
        la = (nmse(s([a1.flatten(0, 1)])[0], a2.flatten(0, 1)) +
              nmse(s([a2.flatten(0, 1)])[0], a1.flatten(0, 1)))
    assert a1.shape == (4, 32 // 4, 16)  # d/h aligned embeddings of size c
    assert out['l_global'].item() == pytest.approx(lg.item(), rel=1e-4)
    assert out['l_aligned'].item() == pytest.approx(la.item(), rel=1e-4)
    assert total.item() == pytest.approx(((1 - beta) * lg + beta * la).item(), rel=1e-4)
    assert log_vars['loss'].item() == pytest.approx(
        (out['loss_global'] + out['loss_aligned']).item())


def test_lewel_m_loss_terms_sum_to_weighted_total():
    """LEWEL_M at the first step (key encoder = online; single process, so no shuffle), with the
    symmetric option: InfoNCE against the queue + in-batch InfoNCE per aligned embedding, both
    averaged over the two directions."""
    beta, tau = 0.3, 0.2
    model = tiny_model('m', beta=beta, symmetric=True)
    queue = model.queue.queue.clone()
    torch.manual_seed(1)
    x = [torch.randn(4, 3, 96, 96), torch.randn(4, 3, 96, 96)]
    out = model.loss(x, None)
    total, _ = model.parse_losses(out)
    with torch.no_grad():
        emb = [hand_embed(model, v) for v in x]
        lg, la = 0, 0
        for qi, ki in [(0, 1), (1, 0)]:
            q, k = F.normalize(emb[qi][0], dim=1), F.normalize(emb[ki][0], dim=1)
            logits = torch.cat([(q * k).sum(1, keepdim=True), q @ queue], dim=1) / tau
            lg = lg + F.cross_entropy(logits, torch.zeros(4, dtype=torch.long)) / 2
            qa, ka = F.normalize(emb[qi][1], dim=-1), F.normalize(emb[ki][1], dim=-1)
            per_k = [F.cross_entropy(qa[:, j] @ ka[:, j].T / tau, torch.arange(4))
                     for j in range(qa.shape[1])]
            la = la + sum(per_k) / len(per_k) / 2
    assert out['l_global'].item() == pytest.approx(lg.item(), rel=1e-4)
    assert out['l_aligned'].item() == pytest.approx(la.item(), rel=1e-4)
    assert total.item() == pytest.approx(((1 - beta) * lg + beta * la).item(), rel=1e-4)
    # one key batch per iteration (view 2's keys) also when symmetric; aligned keys not queued
    assert int(model.queue.ptr) == 4


def test_global_only_builds_no_aligned_branch():
    model = tiny_model('m', beta=0.0)
    assert model.aligned_projector is None
    assert list(model.teacher.module.keys()) == ['backbone', 'neck']
    out = model.loss([torch.randn(4, 3, 64, 64), torch.randn(4, 3, 64, 64)], None)
    assert set(out) == {'loss_global', 'l_global'}
    assert out['loss_global'].item() == pytest.approx(out['l_global'].item())


@pytest.mark.parametrize('overrides', [dict(map_mode='uniform', num_groups=32),
                                       dict(map_mode='random'), dict(aligned_projector=None)],
                         ids=['uniform', 'random', 'g-as-p'])
def test_ablation_variants_run(overrides):
    model = tiny_model('m', **overrides)
    x = [torch.randn(4, 3, 64, 64), torch.randn(4, 3, 64, 64)]
    out = model.loss(x, None)
    assert all(torch.isfinite(v) for v in out.values())
    maps = model.alignment_maps(x[0])
    assert maps.shape == (4, 32, 2, 2)
    torch.testing.assert_close(maps.sum((2, 3)), torch.ones(4, 32))
    if overrides.get('map_mode') == 'random':  # fixed: the same maps again
        torch.testing.assert_close(model.alignment_maps(x[1]), maps)


def test_target_includes_semantic_projector_and_follows_ema():
    model = tiny_model('b')
    assert model.teacher is model.target_net
    assert model.teacher.buffers_policy == 'eman'  # EMA BN statistics, eval-mode target
    assert model.teacher.momentum == pytest.approx(0.02)
    x = [torch.randn(4, 3, 64, 64), torch.randn(4, 3, 64, 64)]
    model.loss(x, None)  # step 0: copy
    online = model.aligned_projector.fc0.weight
    target = model.teacher['aligned_projector'].fc0.weight
    torch.testing.assert_close(online, target)
    before = target.clone()
    with torch.no_grad():
        online.add_(1.0)
    model.loss(x, None)  # step 1: target moves by ~momentum toward online
    frac = ((target - before) / 1.0).mean().item()
    assert 0 < frac < 0.05


# ------------------------------------------------------------------------------ configs
def _cpu_optim_wrapper(cfg):
    """As DenseRunner builds it on a machine without CUDA (AMP -> fp32)."""
    ow = dict(cfg.optim_wrapper)
    if ow.get('type') == 'AmpOptimWrapper' and not torch.cuda.is_available():
        ow = {k: v for k, v in ow.items() if k not in ('loss_scale', 'dtype')}
        ow['type'] = 'OptimWrapper'
    return ow


def test_required_lewel_configs_exist():
    names = {osp.relpath(p, osp.join(REPO, 'configs', 'lewel')) for p in LEWEL_CONFIGS}
    for required in ['lewel_b_r50_8xb64_200e.py', 'lewel_b_r50_8xb64_100e.py',
                     'lewel_b_r50_8xb64_400e.py', 'lewel_m_r50_8xb32_100e.py',
                     'lewel_m_r50_8xb32_200e.py', 'lewel_b_r50_16xb64-lars_200e.py']:
        assert required in names
    sys.path.insert(0, osp.join(REPO, 'tools', 'analysis_tools'))
    try:
        import lewel_sweep
    finally:
        sys.path.pop(0)
    swept = {osp.join(REPO, r['config']) for t in lewel_sweep.TABLES.values() for r in t['rows']}
    assert all(osp.isfile(p) for p in swept)


@pytest.mark.parametrize('path', LEWEL_CONFIGS, ids=lambda p: osp.relpath(p, REPO))
def test_lewel_config_builds(path):
    cfg = Config.fromfile(path)
    model = MODELS.build(cfg.model)
    assert Compose(cfg.train_dataloader.dataset.pipeline).transforms
    optim = build_optim_wrapper(model, _cpu_optim_wrapper(cfg))
    in_optim = {id(p) for g in optim.optimizer.param_groups for p in g['params']}
    assert {id(p) for p in model.parameters() if p.requires_grad} <= in_optim
    name = osp.basename(path)
    if type(model).__name__ not in ('LEWELB', 'LEWELM'):
        return
    # the knobs named in the file name are the ones the model has
    if m := re.search(r'_d(\d+)-h(\d+)', name):
        assert (model.num_maps, model.num_groups) == (int(m[1]), int(m[2]))
    if m := re.search(r'_beta([\d.]+)\.py$', name):
        assert model.beta == pytest.approx(float(m[1]))
    if m := re.search(r'_c(\d+)\.py$', name):
        assert model.aligned_projector.fc1.out_features == int(m[1])
    if '400e' in name:
        assert cfg.model.backbone.norm_cfg.type == 'SyncBN'
        assert cfg.model.neck.norm_cfg.type == 'SyncBN'
    if model.with_aligned:
        assert model.num_aligned * model.num_groups == model.num_maps
    if name.startswith('lewel_m_r50'):
        assert (model.teacher.momentum, model.teacher.end_momentum) == (0.001, None)
        assert (model.shuffle_bn, model.symmetric) == (True, False)
        assert model.teacher.buffers_policy == 'copy'  # MoCo: ShuffleBN, train-mode keys
        assert model.head.temperature == model.aligned_loss.temperature == 0.2
        assert (model.num_maps, model.num_groups, model.beta) == (128, 4, 0.5)
    if name.startswith('lewel_b_r50'):
        assert model.teacher.momentum == pytest.approx(0.02)  # 0.98 -> 1, cosine
        assert model.teacher.end_momentum == 0
        assert model.teacher.buffers_policy == 'eman'  # EMA BN statistics (EMAN)
        assert (model.num_maps, model.num_groups, model.beta) == (256, 4, 0.5)
    if name.startswith(('lewel_b_r50', 'lewel_m_r50')):
        assert model.neck.batch_mode == 'joint'


# ------------------------------------------------------------------------------ Runner
TINY_PIPELINE = """
view_pipeline = [
    dict(type='GeoRandomResizedCrop', scale=64, crop_ratio_range=(0.2, 1.)),
    dict(type='RandomFlip', prob=0.5),
    dict(type='RandomApply', transforms=[dict(type='ColorJitter', brightness=0.4, contrast=0.4,
                                              saturation=0.2, hue=0.1)], prob=0.8),
]
train_dataloader = dict(
    batch_size=4, num_workers=0, persistent_workers=False,
    dataset=dict(pipeline=[
        dict(type='LoadImageRobust'),
        dict(type='GeoMultiView', views=[dict(num=2, transforms=view_pipeline)]),
        dict(type='PackInputs', algorithm_keys=['view_geometry']),
    ]))
param_scheduler = [dict(type='CosineAnnealingLR', T_max=2, by_epoch=True, begin=0, end=2)]
train_cfg = dict(max_epochs=2)
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=1, max_keep_ckpts=3))
randomness = dict(seed=0)
"""


class StopTraining(RuntimeError):
    pass


@HOOKS.register_module(force=True)
class LEWELTestStopAfterEpochHook(Hook):
    """Interrupts training (an exception) once epoch ``epoch``'s checkpoint is written."""
    priority = 'LOWEST'  # after CheckpointHook

    def __init__(self, epoch: int = 1):
        self.epoch = epoch

    def after_train_epoch(self, runner):
        if runner.epoch + 1 >= self.epoch:  # runner.epoch counts from 0 until the epoch ends
            raise StopTraining(f'stopped after epoch {runner.epoch + 1}')


@pytest.fixture(scope='module')
def tiny_data(tmp_path_factory):
    from densepre.demo import make_demo_data
    root = str(tmp_path_factory.mktemp('lewel_demo') / 'demo')
    make_demo_data(root, num_pretrain=8, num_seg_train=1, num_seg_val=1, image_size=48)
    return root


def tiny_config(tmp_path, kind, extra=''):
    base = LEWEL_B if kind == 'b' else LEWEL_M
    # fp32: the checks below compare logged sums to 1e-4 (bf16 autocast rounds the loss terms)
    lr = ("optim_wrapper = dict(dtype='float32', optimizer=dict(lr=0.2))\n" if kind == 'b' else
          "optim_wrapper = dict(dtype='float32')\n")
    path = tmp_path / f'lewel_{kind}_tiny.py'
    path.write_text(f'_base_ = {base!r}\nmodel = {TINY_MODEL[kind]!r}\n{lr}{TINY_PIPELINE}'
                    f'{extra}\n')
    return str(path)


_RUN = [0]


def train(config, work_dir, data_root, *options, resume=False):
    from train import main  # tools/train.py (tools/ is on sys.path via conftest)
    _RUN[0] += 1
    args = [config, '--work-dir', str(work_dir), '--cfg-options',
            f'train_dataloader.dataset.data_root={data_root}/imagenet/',
            f'experiment_name=lewel_test_{_RUN[0]}', *options]
    if resume:
        args.append('--resume')
    main(args)


def scalars(work_dir):
    out = {}
    for path in sorted(glob.glob(osp.join(str(work_dir), '*', 'vis_data', 'scalars.json'))):
        with open(path) as f:
            for line in f:
                rec = json.loads(line)
                if 'loss' in rec and 'iter' in rec:
                    out[rec['iter']] = rec
    return out


def load_state(path):
    return torch.load(path, map_location='cpu', weights_only=False)['state_dict']


@pytest.mark.parametrize('kind', ['b', 'm'])
def test_one_epoch_through_runner(kind, tiny_data, tmp_path):
    train(tiny_config(tmp_path, kind), tmp_path / 'wd', tiny_data, 'train_cfg.max_epochs=1')
    logs = scalars(tmp_path / 'wd')
    assert sorted(logs) == [1, 2]
    for rec in logs.values():
        for key in ('loss', 'loss_global', 'loss_aligned', 'l_global', 'l_aligned'):
            assert math.isfinite(rec[key]), key
        assert rec['loss'] == pytest.approx(rec['loss_global'] + rec['loss_aligned'], rel=1e-4)
    # MMEngine logs window means of keys containing 'loss' and current values of the others:
    # at the first iteration both are that iteration's values
    assert logs[1]['loss_global'] == pytest.approx(0.5 * logs[1]['l_global'], rel=1e-4)
    assert logs[1]['loss_aligned'] == pytest.approx(0.5 * logs[1]['l_aligned'], rel=1e-4)
    state = load_state(tmp_path / 'wd' / 'epoch_1.pth')
    teacher = 'target_net' if kind == 'b' else 'encoder_k'
    assert any(k.startswith(f'{teacher}.module.aligned_projector') for k in state)
    if kind == 'm':
        assert int(state['queue.ptr']) == 8  # 2 steps x 1 key batch x 4
    # the alignment-map visualiser runs on the checkpoint
    sys.path.insert(0, osp.join(REPO, 'tools', 'analysis_tools'))
    try:
        from visualize_alignment_maps import main as visualize
    finally:
        sys.path.pop(0)
    img = sorted(glob.glob(osp.join(tiny_data, 'imagenet', 'train', '*', '*')))[0]
    out = visualize([tiny_config(tmp_path, kind), str(tmp_path / 'wd' / 'epoch_1.pth'), img,
                     '--out', str(tmp_path / 'vis'), '--size', '64', '--maps', '0', '5'])
    assert osp.getsize(out) > 0


@pytest.mark.parametrize('kind', ['b', 'm'])
def test_resume_keeps_queue_and_ema(kind, tiny_data, tmp_path):
    """2 epochs straight vs 1 epoch, interruption, --resume to epoch 2: same losses, weights,
    queue and EMA target (incl. the aligned branch's)."""
    cfg = tiny_config(tmp_path, kind)
    train(cfg, tmp_path / 'full', tiny_data)
    stop_cfg = tiny_config(tmp_path / 'full', kind, extra=(
        "custom_hooks = [dict(type='GlobalLossLogHook'), dict(type='FiniteLossHook'), "
        "dict(type='LEWELTestStopAfterEpochHook', epoch=1)]"))
    with pytest.raises(StopTraining):
        train(stop_cfg, tmp_path / 'resumed', tiny_data)
    assert (tmp_path / 'resumed' / 'epoch_1.pth').exists()
    assert not (tmp_path / 'resumed' / 'epoch_2.pth').exists()
    train(cfg, tmp_path / 'resumed', tiny_data, resume=True)

    ref, got = scalars(tmp_path / 'full'), scalars(tmp_path / 'resumed')
    assert sorted(ref) == sorted(got) == [1, 2, 3, 4]
    for it in (3, 4):
        for key in ('loss', 'l_global', 'l_aligned'):
            assert got[it][key] == pytest.approx(ref[it][key], rel=1e-5, abs=1e-6), (it, key)
    a = load_state(tmp_path / 'full' / 'epoch_2.pth')
    b = load_state(tmp_path / 'resumed' / 'epoch_2.pth')
    assert a.keys() == b.keys()
    stateful = [k for k in a if k.startswith(('queue', 'encoder_k', 'target_net'))]
    assert any('.module.aligned_projector.' in k for k in stateful)
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-4, atol=1e-5, msg=k)


# ------------------------------------------------------------------------------ 2 processes
DETERMINISTIC_M = """
model = dict(
    queue_len=16, feat_dim=32,
    backbone=dict(depth=18, norm_cfg=dict(type='GN', num_groups=8, requires_grad=True)),
    neck=dict(in_channels=512, hid_channels=64, out_channels=32, norm_cfg=None),
    aligned_projector=dict(_delete_=True, type='CoupledProjectionHead', in_channels=512,
                           hid_channels=64, out_channels=16, norm_cfg=None))
train_dataloader = dict(
    batch_size=8, num_workers=0, persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(pipeline=[
        dict(type='LoadImageRobust'),
        dict(type='GeoMultiView', views=[
            dict(num=1, transforms=[dict(type='Resize', scale=(64, 64))]),
            dict(num=1, transforms=[dict(type='Resize', scale=(64, 64)),
                                    dict(type='RandomFlip', prob=1.0)]),
        ]),
        dict(type='PackInputs', algorithm_keys=['view_geometry']),
    ]))
param_scheduler = [dict(type='CosineAnnealingLR', T_max=2, by_epoch=True, begin=0, end=2)]
train_cfg = dict(max_epochs=2)
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=1, max_keep_ckpts=3))
randomness = dict(seed=0)
optim_wrapper = dict(dtype='float32')  # bf16 AMP rounds differently when the batch is split
"""


@pytest.mark.slow
def test_lewel_m_two_processes_equal_one(tiny_data, tmp_path):
    """LEWEL_M without BN (GroupNorm backbone, BN-free heads) and without random augmentation:
    2 gloo processes x 4 images == 1 process x 8 images. The aligned loss of each query then
    needs the other rank's keys as negatives (all_gather) and the right label offset; the global
    loss, ShuffleBN and the queue go through their distributed paths too."""
    import os
    import socket
    import subprocess
    cfg = tmp_path / 'lewel_m_det.py'
    cfg.write_text(f'_base_ = {LEWEL_M!r}\n{DETERMINISTIC_M}')
    data = f'train_dataloader.dataset.data_root={tiny_data}/imagenet/'
    train(str(cfg), tmp_path / 'single', tiny_data)
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    env = dict(os.environ, PORT=str(port), PYTHON=sys.executable, OMP_NUM_THREADS='1',
               PYTHONPATH=REPO)
    proc = subprocess.run(['bash', osp.join(REPO, 'tools/dist_train.sh'), str(cfg), '2',
                           '--work-dir', str(tmp_path / 'ddp'), '--cfg-options', data,
                           'train_dataloader.batch_size=4'],
                          capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    single, ddp = scalars(tmp_path / 'single'), scalars(tmp_path / 'ddp')
    assert sorted(single) == sorted(ddp) == [1, 2]
    for it in single:
        for key in ('loss', 'l_global', 'l_aligned'):
            assert ddp[it][key] == pytest.approx(single[it][key], rel=1e-4), (it, key)
    a = load_state(tmp_path / 'single' / 'epoch_2.pth')
    b = load_state(tmp_path / 'ddp' / 'epoch_2.pth')
    for k in a:
        if k == 'queue.queue':  # the same keys, enqueued in rank order: compare as sets
            torch.testing.assert_close(a[k][:, torch.argsort(a[k][0])],
                                       b[k][:, torch.argsort(b[k][0])], rtol=1e-3, atol=1e-4)
        else:
            torch.testing.assert_close(a[k], b[k], rtol=1e-3, atol=1e-4, msg=k)
