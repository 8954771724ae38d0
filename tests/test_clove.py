"""CLoVE: components against brute-force / hand references, the algorithm against a per-view-pair
loop, and training through tools/train.py with 2 global + N local views."""
import copy
import glob
import json
import math
import os.path as osp

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.logging import MessageHub
from mmpretrain.structures import DataSample

from densepre.models.algorithms.clove import neighbourhood_positives
from densepre.models.heads import NMHSAPredictor
from densepre.models.losses import ContextRankingLoss
from densepre.models.losses.context_ranking import hard_negatives
from densepre.models.necks import PixelProjector
from densepre.registry import MODELS

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
CLOVE_CONFIGS = sorted(glob.glob(osp.join(REPO, 'configs', 'clove', '**', '*.py'), recursive=True))
DEMO = osp.join(REPO, 'configs/demo/clove_r18_1xb32-64px-40e_demo.py')


# ------------------------------------------------------------------------------ projector
def test_pixel_projector_is_a_per_pixel_mlp():
    torch.manual_seed(0)
    proj = PixelProjector(in_channels=8, hid_channels=16, out_channels=4, with_last_bn=True)
    assert proj.bn2.weight is None and proj.bn2.bias is None  # non-affine final BN
    assert proj.conv1.bias is None and proj.conv2.bias is None
    x = torch.randn(3, 8, 5, 6)
    y = proj((torch.randn(1), x))  # backbone tuple: last output
    assert y.shape == (3, 4, 5, 6)
    # train mode: the final BN standardises every channel over batch x cells
    assert torch.allclose(y.mean((0, 2, 3)), torch.zeros(4), atol=1e-5)
    # eval mode: each cell is the same MLP (1x1 convs), a loop over cells agrees
    proj.eval()
    y = proj(x)
    mlp = lambda v: proj.bn2(proj.conv2(proj.relu(proj.bn1(proj.conv1(v)))))  # noqa: E731
    assert torch.allclose(y[:, :, 2, 3], mlp(x[:, :, 2:3, 3:4])[:, :, 0, 0], atol=1e-6)
    plain = PixelProjector(in_channels=8, hid_channels=16, out_channels=4, with_last_bn=False,
                           with_bias=True)
    assert isinstance(plain.bn2, nn.Identity) and plain.conv2.bias is not None


@pytest.mark.parametrize('with_last_bn,with_bias', [(True, False), (False, True)])
def test_pixel_projector_equals_the_1x1_conv_definition(with_last_bn, with_bias):
    """The per-cell matrix-product implementation = the 1×1 convolutions + BatchNorm2d on the map
    (train mode, fp64): outputs, input gradients, weight gradients and BN running statistics."""
    torch.manual_seed(0)
    proj = PixelProjector(in_channels=8, hid_channels=16, out_channels=4,
                          with_last_bn=with_last_bn, with_bias=with_bias).double()
    ref = copy.deepcopy(proj)
    x = torch.randn(3, 8, 5, 6, dtype=torch.float64, requires_grad=True)
    xr = x.detach().clone().requires_grad_()
    y = proj(x)
    yr = ref.bn2(ref.conv2(ref.relu(ref.bn1(ref.conv1(xr)))))
    assert torch.allclose(y, yr, rtol=0, atol=1e-12)
    w = torch.randn_like(y)
    (y * w).sum().backward()
    (yr * w).sum().backward()
    assert torch.allclose(x.grad, xr.grad, rtol=0, atol=1e-12)
    for (name, p), pr in zip(proj.named_parameters(), ref.parameters()):
        assert torch.allclose(p.grad, pr.grad, rtol=0, atol=1e-12), name
    for (name, b), br in zip(proj.named_buffers(), ref.buffers()):
        assert torch.allclose(b.to(br.dtype), br, rtol=0, atol=1e-12), name


# ------------------------------------------------------------------------------ NMHSA
def _attention_loop(pred: NMHSAPredictor, x: torch.Tensor) -> torch.Tensor:
    b, c, h, w = x.shape
    tokens = x.flatten(2).transpose(1, 2)
    inner = pred.num_heads * pred.head_dims
    wq, wk, wv = pred.qkv.weight.split(inner)
    bq, bk, bv = pred.qkv.bias.split(inner)
    heads = []
    for i in range(pred.num_heads):
        s = slice(i * pred.head_dims, (i + 1) * pred.head_dims)
        q, k, v = (tokens @ W[s].T + bias[s] for W, bias in ((wq, bq), (wk, bk), (wv, bv)))
        if pred.normalize:
            scores = (q / q.norm(dim=-1, keepdim=True)) @ (k / k.norm(dim=-1, keepdim=True)
                                                          ).transpose(1, 2) / pred.temperature
        else:
            scores = q @ k.transpose(1, 2) / math.sqrt(pred.head_dims)
        heads.append(torch.softmax(scores, -1) @ v)
    out = pred.out_proj(torch.cat(heads, -1))
    return out.transpose(1, 2).reshape(b, c, h, w)


@pytest.mark.parametrize('normalize,temperature', [(True, 0.2), (True, 1.0), (False, 0.2)])
def test_nmhsa_matches_per_head_loop(normalize, temperature):
    torch.manual_seed(0)
    pred = NMHSAPredictor(embed_dims=16, num_heads=4, head_dims=8, normalize=normalize,
                          temperature=temperature).double()
    x = torch.randn(2, 16, 3, 5, dtype=torch.float64)
    out, attn = pred(x, return_attention=True)
    assert out.shape == x.shape and attn.shape == (2, 4, 15, 15)
    assert torch.allclose(attn.sum(-1), torch.ones(2, 4, 15, dtype=torch.float64))
    assert torch.allclose(out, _attention_loop(pred, x), atol=1e-10)


def test_nmhsa_scores_are_bounded_by_the_temperature():
    """Normalised q/k: scores in [-1/τ, 1/τ], so attention weights are bounded whatever the input
    scale; plain MHSA saturates to one-hot on large inputs."""
    torch.manual_seed(0)
    x = 1000 * torch.randn(1, 16, 4, 4)
    n = NMHSAPredictor(embed_dims=16, num_heads=2, head_dims=8, temperature=0.5)
    _, attn = n(x, return_attention=True)
    bound = math.exp(2 / 0.5) / (math.exp(2 / 0.5) + 15)  # max weight with scores in [-2, 2]
    assert attn.max() <= bound + 1e-6
    p = NMHSAPredictor(embed_dims=16, num_heads=2, head_dims=8, normalize=False)
    p.load_state_dict(n.state_dict())
    assert p(x, return_attention=True)[1].max() > 0.99


def test_plain_mhsa_equals_torch_multihead_attention():
    """normalize=False is nn.MultiheadAttention (the released code's layer), same weights."""
    torch.manual_seed(0)
    mha = nn.MultiheadAttention(32, 4, batch_first=True)
    pred = NMHSAPredictor(embed_dims=32, num_heads=4, head_dims=8, normalize=False)
    pred.qkv.weight.data.copy_(mha.in_proj_weight)
    pred.qkv.bias.data.copy_(mha.in_proj_bias)
    pred.out_proj.load_state_dict(mha.out_proj.state_dict())
    x = torch.randn(2, 32, 3, 3)
    tokens = x.flatten(2).transpose(1, 2)
    ref = mha(tokens, tokens, tokens)[0].transpose(1, 2).reshape(2, 32, 3, 3)
    assert torch.allclose(pred(x), ref, atol=1e-5)


# ------------------------------------------------------------------------------ matching
def _random_geometry(rng, n, out_size):
    w = rng.uniform(10, 200, n)
    h = rng.uniform(10, 200, n)
    x1, y1 = rng.uniform(0, 100, n), rng.uniform(0, 100, n)
    flip = rng.integers(0, 2, n)
    return torch.tensor(np.stack([x1, y1, x1 + w, y1 + h, flip, np.full(n, out_size),
                                  np.full(n, out_size), np.zeros(n)], -1), dtype=torch.float32)


def _positives_loop(gq, hq, gt, ht, tpos):
    """Cell centres from the geometry definition, one pair of cells at a time."""
    def centre(g, hw, r, c):
        x1, y1, x2, y2, flip = g[:5].tolist()
        u = (c + 0.5) / hw[1]
        u = 1 - u if flip > 0.5 else u
        return x1 + u * (x2 - x1), y1 + (r + 0.5) / hw[0] * (y2 - y1)

    def diag(g, hw):
        return math.hypot((g[2] - g[0]).item() / hw[1], (g[3] - g[1]).item() / hw[0])

    out = torch.zeros(hq[0] * hq[1], ht[0] * ht[1], dtype=torch.bool)
    scale = max(diag(gq, hq), diag(gt, ht))
    for i in range(hq[0] * hq[1]):
        xq, yq = centre(gq, hq, i // hq[1], i % hq[1])
        for j in range(ht[0] * ht[1]):
            xt, yt = centre(gt, ht, j // ht[1], j % ht[1])
            out[i, j] = math.hypot(xq - xt, yq - yt) / scale < tpos
    return out


@pytest.mark.parametrize('size_q,size_t', [(96, 224), (224, 224), (64, 32), (32, 32)])
@pytest.mark.parametrize('tpos', [0.5, 0.7, 0.9, 3.0])
def test_matching_equals_brute_force(size_q, size_t, tpos):
    rng = np.random.default_rng(size_q * 1000 + size_t + int(10 * tpos))
    n = 12
    gq, gt = _random_geometry(rng, n, size_q), _random_geometry(rng, n, size_t)
    hq, ht = (size_q // 32,) * 2, (size_t // 32,) * 2
    got = neighbourhood_positives(gq.view(3, 4, 8), hq, gt.view(3, 4, 8), ht, tpos)
    assert got.shape == (3, 4, hq[0] * hq[1], ht[0] * ht[1])
    ref = torch.stack([_positives_loop(gq[k], hq, gt[k], ht, tpos) for k in range(n)])
    assert torch.equal(got.flatten(0, 1), ref)
    if tpos == 3.0:
        assert ref.any()


def test_matching_follows_the_flip():
    """The same box, one view flipped: cell (r, c) matches (r, w-1-c) only (tpos small)."""
    g = torch.tensor([10., 20., 80., 90., 0., 96., 96., 0.])
    gf = g.clone()
    gf[4] = 1
    pos = neighbourhood_positives(g, (3, 3), gf, (3, 3), 0.1)
    expected = torch.zeros(9, 9, dtype=torch.bool)
    for r in range(3):
        for c in range(3):
            expected[r * 3 + c, r * 3 + 2 - c] = True
    assert torch.equal(pos, expected)


# ------------------------------------------------------------------------------ loss
def _hand_example():
    """Query C0 = (1, 0) matches t0; C1 = (0, 1) matches t1 and t3.
    t0 = (1, 0), t1 = (0, 1), t2 = (-1, 0), t3 = (1/2, √3/2)."""
    pred = torch.tensor([[[1., 0.], [0., 1.]]])
    target = torch.tensor([[[1., 0.], [0., 1.], [-1., 0.], [0.5, math.sqrt(3) / 2]]])
    pos = torch.tensor([[[True, False, False, False], [False, True, False, True]]])
    return pred, target, pos


def test_loss_on_hand_built_example():
    pred, target, pos = _hand_example()
    # C0: non-positives t3 (0.5), t1 (0), t2 (-1); top-3, drop t3 -> {t1, t2}
    #   mean feature (-1/2, 1/2) -> cos = -1/√2;  mean similarity = -1/2
    # C1: non-positives t0 (0), t2 (0) -> one left after the drop: similarity 0 (either way)
    r = 1 / math.sqrt(2)
    loss = ContextRankingLoss(lambda_pos=2, margin=100, topk=3)
    value, ok = loss(pred, target, pos)
    expected = ((100 - 2 - r) + (100 - 2 + 0) + (100 - 2 * math.sqrt(3) / 2 + 0)) / 3
    assert ok.tolist() == [True]
    assert value.item() == pytest.approx(expected, abs=1e-5)
    # the hinge turns off with a small margin: with μ = 2 only (C1, t3) is left: 2 - √3 > 0
    value, _ = ContextRankingLoss(lambda_pos=2, margin=2, topk=3)(pred, target, pos)
    assert value.item() == pytest.approx((2 - math.sqrt(3)) / 3, abs=1e-6)
    # released formulation: per view pair, 2x(mean over M), negatives averaged as similarities
    # over all query cells: pos_mean = (1 + 1 + √3/2)/3, neg_mean = (-1/2 + 0)/2
    release = ContextRankingLoss(lambda_pos=2, margin=100, topk=3, negative='mean_similarity',
                                 reduction='image', similarity_scale=2)
    pos_mean = (2 + math.sqrt(3) / 2) / 3
    value, _ = release(pred, target, pos)
    assert value.item() == pytest.approx(100 - 2 * 2 * pos_mean + 2 * (-0.25), abs=1e-4)
    # l2 (BYOL) variant: mean over M of 2 - 2 cos
    value, _ = ContextRankingLoss(loss_type='l2')(pred, target, pos)
    assert value.item() == pytest.approx((0 + 0 + 2 - math.sqrt(3)) / 3, abs=1e-6)


def _loss_loop(pred, target, pos, lam, mu, k, mode, reduction, scale, queue=None):
    """Eq. 2 one query cell at a time (sorted lists, explicit drop of the most similar);
    negatives among the non-matching target cells, or among the ``queue`` rows."""
    out = []
    for p in range(pred.shape[0]):
        c = F.normalize(pred[p], dim=-1)
        t = F.normalize(target[p], dim=-1)
        n = t if queue is None else F.normalize(queue, dim=-1)
        terms, negs, sims = [], [], []
        for i in range(c.shape[0]):
            cand = [j for j in range(n.shape[0]) if queue is not None or not pos[p, i, j]]
            cand.sort(key=lambda j: -(c[i] @ n[j]).item())
            chosen = cand[:k][1:]
            if not chosen:
                neg = 0.
            elif mode == 'mean_similarity':
                neg = sum((c[i] @ n[j]).item() for j in chosen) / len(chosen)
            else:
                fneg = sum(n[j] for j in chosen) / len(chosen)
                neg = (c[i] @ fneg / fneg.norm()).item()
            negs.append(neg)
            for j in range(t.shape[0]):
                if pos[p, i, j]:
                    s = (c[i] @ t[j]).item()
                    sims.append(s)
                    terms.append(max(0., -lam * scale * s + scale * neg + mu))
        if reduction == 'pair':
            out.append(sum(terms) / max(len(terms), 1))
        else:
            pm = sum(sims) / (len(sims) + 1e-6)
            out.append(max(0., -lam * scale * pm + scale * sum(negs) / len(negs) + mu))
    return torch.tensor(out)


@pytest.mark.parametrize('mode', ['mean_feature', 'mean_similarity'])
@pytest.mark.parametrize('reduction,scale,mu', [('pair', 1., 100.), ('pair', 1., 1.5),
                                                ('image', 2., 100.), ('image', 2., 1.)])
def test_loss_equals_loop_reference(mode, reduction, scale, mu):
    torch.manual_seed(1)
    pred, target = torch.randn(5, 9, 6).double(), torch.randn(5, 49, 6).double()
    pos = torch.rand(5, 9, 49) < 0.08
    pos[0] = False  # a view pair without matches
    pos[1, :, :45] = True  # queries with fewer than two negatives left
    loss = ContextRankingLoss(lambda_pos=2., margin=mu, topk=10, negative=mode,
                              reduction=reduction, similarity_scale=scale)
    value, ok = loss(pred, target, pos)
    ref = _loss_loop(pred, target, pos, 2., mu, 10, mode, reduction, scale)
    assert torch.allclose(value.double(), ref.double(), atol=1e-5)
    assert ok[0].item() == (reduction == 'image') and ok[1:].all()


@pytest.mark.parametrize('mode', ['mean_feature', 'mean_similarity'])
def test_queue_negatives_equal_loop_reference(mode):
    """Table 10 inter / inter-avg: the hard negatives come from the queue (all allowed)."""
    torch.manual_seed(2)
    pred, target = torch.randn(4, 9, 6).double(), torch.randn(4, 49, 6).double()
    queue = torch.randn(40, 6).double()
    pos = torch.rand(4, 9, 49) < 0.1
    loss = ContextRankingLoss(negative=mode, margin=1.0)
    value, _ = loss(pred, target, pos, negatives=queue[None])
    ref = _loss_loop(pred, target, pos, 2., 1.0, 10, mode, 'pair', 1., queue=queue)
    assert torch.allclose(value.double(), ref.double(), atol=1e-6)


def test_negatives_never_include_positives():
    """Positive target cells can be anything: the negatives do not change."""
    torch.manual_seed(0)
    pred = F.normalize(torch.randn(4, 9, 8), dim=-1)
    target = F.normalize(torch.randn(4, 49, 8), dim=-1)
    pos = torch.rand(4, 9, 49) < 0.2
    for mode in ('mean_feature', 'mean_similarity'):
        ref, _ = hard_negatives(pred, target, ~pos, 10, mode)
        for _ in range(3):
            # replace every target cell that is a positive of some query by the query itself
            # (the most similar vector possible); per-query check: only that query's positives
            moved = target.clone()
            p, i = 1, 4
            moved[p, pos[p, i]] = pred[p, i]
            got, _ = hard_negatives(pred[p:p + 1, i:i + 1], moved[p:p + 1], ~pos[p:p + 1, i:i + 1],
                                    10, mode)
            assert torch.allclose(got, ref[p:p + 1, i:i + 1], atol=1e-6)
    # and the loss gradient never reaches a positive cell through the negative term
    t = target.clone().requires_grad_(True)
    neg, _ = hard_negatives(pred, t, ~pos, 10, 'mean_feature')
    neg[0, 0].backward()
    assert (t.grad[0, pos[0, 0]] == 0).all() and t.grad[0].abs().sum() > 0


def test_loss_rejects_unknown_options():
    for kwargs in (dict(negative='avg'), dict(reduction='sum'), dict(loss_type='nce'),
                   dict(topk=1)):
        with pytest.raises(ValueError, match=list(kwargs)[0]):
            ContextRankingLoss(**kwargs)


# ------------------------------------------------------------------------------ algorithm
def _tiny_model(**overrides):
    cfg = Config.fromfile(DEMO)
    cfg.merge_from_dict(dict(model=dict(neck=dict(hid_channels=64, out_channels=32),
                                        predictor=dict(embed_dims=32, num_heads=4, head_dims=8),
                                        **overrides)))
    return MODELS.build(cfg.model)


def _batch(num_local, b=2, seed=0, g=64, loc=32):
    rng = np.random.default_rng(seed)
    groups = ['global'] * 2 + ['local'] * num_local
    samples = []
    for _ in range(b):
        geo = torch.cat([_random_geometry(rng, 2, g), _random_geometry(rng, num_local, loc)])
        ds = DataSample()
        ds.set_field(geo.numpy(), 'view_geometry', field_type='metainfo')
        ds.set_field(groups, 'view_groups', field_type='metainfo')
        samples.append(ds)
    torch.manual_seed(seed)
    inputs = [torch.randn(b, 3, g, g) for _ in range(2)]
    inputs += [torch.randn(b, 3, loc, loc) for _ in range(num_local)]
    return inputs, samples


@pytest.fixture
def max_iters():
    MessageHub.get_current_instance().update_info('max_iters', 100)


@pytest.mark.parametrize('num_local,queue', [(0, None), (3, None), (3, 'inter_avg')])
def test_loss_equals_per_view_pair_loop(num_local, queue, max_iters):
    """Grouped by size and vectorised over view pairs = each (global target a, online view b ≠ a)
    pair computed on its own (eval mode: BN does not couple the views of one pass)."""
    extra = {} if queue is None else dict(
        negative_queue=dict(strategy=queue, length=8, dim=32))
    model = _tiny_model(**extra).double().eval()
    inputs, samples = _batch(num_local)
    inputs = [x.double() for x in inputs]
    negatives = None if queue is None else model.negative_queue.queue.t().clone()[None]
    out = model.loss(inputs, samples)
    geoms = torch.stack([torch.as_tensor(s.view_geometry) for s in samples]).double()
    losses = []
    with torch.no_grad():
        for a in range(2):
            tgt = model.target_maps(inputs[a])
            for b in range(2 + num_local):
                if a == b:
                    continue
                pred = model.online_maps(inputs[b])
                pos = torch.stack([_positives_loop(geoms[k, b], pred.shape[-2:], geoms[k, a],
                                                   tgt.shape[-2:], 0.7) for k in range(2)])
                value, ok = model.loss_module(pred.flatten(2).transpose(1, 2),
                                              tgt.flatten(2).transpose(1, 2), pos,
                                              negatives=negatives)
                losses += [v for v, o in zip(value, ok) if o]
    assert len(losses) > 0
    assert out['loss'].item() == pytest.approx(torch.stack(losses).mean().item(), rel=1e-9)


@pytest.mark.parametrize('strategy', ['inter', 'inter_avg'])
def test_queue_stores_target_representations(strategy, max_iters):
    model = _tiny_model(negative_queue=dict(strategy=strategy, length=8, dim=32)).double().eval()
    inputs, samples = _batch(2)
    inputs = [x.double() for x in inputs]
    model.loss(inputs, samples)
    assert int(model.negative_queue.ptr) == 4  # 2 images x 2 global views
    stored = model.negative_queue.queue[:, :4].t().view(2, 2, 32)  # (image, view, D)
    with torch.no_grad():
        maps = torch.stack([model.target_maps(inputs[a]).flatten(2).transpose(1, 2)
                            for a in range(2)], 1)  # (B, 2, L, D)
    maps = F.normalize(maps, dim=-1)
    if strategy == 'inter_avg':
        assert torch.allclose(stored, F.normalize(maps.mean(2), dim=-1), atol=1e-10)
    else:  # one of the cells of that image's view
        dist = (stored[:, :, None] - maps).norm(dim=-1).min(-1).values
        assert (dist < 1e-10).all()


def test_unknown_queue_strategy_is_an_error():
    with pytest.raises(ValueError, match='strategy'):
        _tiny_model(negative_queue=dict(strategy='cross', length=8, dim=32))


def test_one_backbone_pass_per_view_size_and_teacher_on_globals_only(max_iters):
    model = _tiny_model()
    calls = []
    model.backbone.register_forward_hook(lambda m, i, o: calls.append(('online', i[0].shape)))
    model.target_net['backbone'].register_forward_hook(
        lambda m, i, o: calls.append(('target', i[0].shape)))
    inputs, samples = _batch(6)
    out = model.loss(inputs, samples)
    assert sorted(calls) == [('online', (4, 3, 64, 64)), ('online', (12, 3, 32, 32)),
                             ('target', (4, 3, 64, 64))]
    out['loss'].backward()
    assert all(p.grad is not None for p in model.predictor.parameters())
    assert all(not p.requires_grad for p in model.target_net.parameters())


def test_attention_maps_are_the_predictor_weights():
    model = _tiny_model().eval()
    x = torch.randn(2, 3, 64, 64)
    attn = model.attention(x)
    assert attn.shape == (2, 4, 4, 4, 4, 4)
    _, ref = model.predictor(model.neck(model.backbone(x)), return_attention=True)
    assert torch.equal(attn.flatten(2, 3).flatten(3), ref)
    assert torch.allclose(attn.sum((-2, -1)), torch.ones(2, 4, 4, 4))


def test_teacher_is_encoder_and_projector_with_cosine_momentum():
    model = _tiny_model()
    assert list(model.target_net.module.keys()) == ['backbone', 'neck']
    assert not any('predictor' in k for k in model.target_net.state_dict())
    assert model.target_net.momentum == pytest.approx(0.01)  # tau 0.99
    assert model.target_net.end_momentum == 0.  # tau -> 1


def test_needs_two_global_views(max_iters):
    model = _tiny_model()
    inputs, samples = _batch(2)
    for s in samples:
        s.set_field(['global', 'local', 'local', 'local'], 'view_groups', field_type='metainfo')
    with pytest.raises(ValueError, match='2 views in the "global" group'):
        model.loss(inputs, samples)


# ------------------------------------------------------------------------------ configs
@pytest.mark.parametrize('path', CLOVE_CONFIGS + [DEMO], ids=osp.basename)
def test_clove_config_builds(path):
    cfg = Config.fromfile(path)
    model = MODELS.build(cfg.model)
    assert type(model).__name__ == 'CLoVE'
    views = cfg.train_dataloader.dataset.pipeline[1]['views']
    assert [v['name'] for v in views][:2] == ['global', 'global']


def test_paper_config_values():
    cfg = Config.fromfile(osp.join(REPO, 'configs/clove/clove_r50_4xb512-lars_200e.py'))
    m = cfg.model
    assert (m.neck.in_channels, m.neck.hid_channels, m.neck.out_channels) == (2048, 4096, 256)
    assert (m.predictor.num_heads, m.predictor.head_dims, m.predictor.normalize) == (8, 32, True)
    assert (m.loss.lambda_pos, m.loss.margin, m.loss.topk) == (2., 100., 10)
    assert m.pos_threshold == 0.7 and m.base_momentum == 0.01
    views = cfg.train_dataloader.dataset.pipeline[1]['views']
    assert [(v['num'], v['transforms'][0]['scale']) for v in views] == [(1, 224), (1, 224),
                                                                        (6, 96)]
    assert cfg.train_dataloader.batch_size * 4 == cfg.auto_scale_lr.base_batch_size == 2048
    assert cfg.optim_wrapper.optimizer.lr == 1.0 * 2048 / 256
    assert cfg.optim_wrapper.optimizer.weight_decay == 2e-5
    assert cfg.param_scheduler[0].end == 5 and cfg.train_cfg.max_epochs == 200


# ------------------------------------------------------------------------------ Runner
@pytest.fixture(scope='module')
def tiny_data(tmp_path_factory):
    from densepre.demo import make_demo_data
    root = str(tmp_path_factory.mktemp('clove_demo') / 'demo')
    make_demo_data(root, num_pretrain=8, num_seg_train=1, num_seg_val=1, image_size=48)
    return root


def _scalars(work_dir):
    out = {}
    for path in glob.glob(osp.join(str(work_dir), '*', 'vis_data', 'scalars.json')):
        with open(path) as f:
            for line in f:
                rec = json.loads(line)
                if 'loss' in rec and 'iter' in rec:
                    out[rec['iter']] = rec
    return out


@pytest.mark.parametrize('num_local', [0, 2, 6])
def test_train_step_through_tools_train(num_local, tiny_data, tmp_path):
    from train import main  # tools/train.py
    cfg = Config.fromfile(DEMO)
    views = cfg.train_dataloader.dataset.pipeline[1]['views']
    views[2]['num'] = num_local
    if num_local == 0:
        views.pop(2)
    # N = 6 with the paper config's SyncBN: the Runner reverts it to BN on one CPU process
    norm = dict(type='SyncBN' if num_local == 6 else 'BN')
    cfg.merge_from_dict(dict(
        model=dict(backbone=dict(norm_cfg=norm),
                   neck=dict(hid_channels=64, out_channels=32, norm_cfg=norm),
                   predictor=dict(embed_dims=32, num_heads=4, head_dims=8)),
        custom_hooks=cfg.custom_hooks[:2]))
    cfg.train_dataloader.batch_size = 4
    cfg.train_dataloader.num_workers = 0
    cfg.train_dataloader.persistent_workers = False
    path = tmp_path / 'clove_tiny.py'
    cfg.dump(str(path))
    main([str(path), '--work-dir', str(tmp_path / 'wd'), '--cfg-options',
          f'train_dataloader.dataset.data_root={tiny_data}/imagenet/', 'train_cfg.max_epochs=1',
          'default_hooks.logger.interval=1', f'experiment_name=clove_test_{num_local}'])
    logs = _scalars(tmp_path / 'wd')
    assert sorted(logs) == [1, 2]
    for rec in logs.values():
        assert math.isfinite(rec['loss']) and rec['matches_per_pair'] > 0
    state = torch.load(tmp_path / 'wd' / 'epoch_1.pth', map_location='cpu',
                       weights_only=False)['state_dict']
    assert any(k.startswith('target_net.module.neck.') for k in state)
    assert not any(k.startswith('target_net.module.predictor') for k in state)
    assert any(k.startswith('predictor.qkv') for k in state)
    assert 'neck.bn2.running_mean' in state and 'neck.bn2.weight' not in state  # non-affine
    if num_local == 2:  # the attention visualiser runs on the checkpoint
        import sys
        sys.path.insert(0, osp.join(REPO, 'tools', 'analysis_tools'))
        try:
            from visualize_clove_attention import main as visualize
        finally:
            sys.path.pop(0)
        img = sorted(glob.glob(osp.join(tiny_data, 'imagenet', 'train', '*', '*')))[0]
        out = visualize([str(path), str(tmp_path / 'wd' / 'epoch_1.pth'), img, '--size', '64',
                         '--cell', '1', '2', '--out', str(tmp_path / 'vis')])
        assert osp.getsize(out) > 0
        with pytest.raises(SystemExit, match='4x4'):
            visualize([str(path), str(tmp_path / 'wd' / 'epoch_1.pth'), img, '--size', '64',
                       '--cell', '4', '0', '--out', str(tmp_path / 'vis')])


RELEASE_OPTIONS = dict(predictor=dict(normalize=False),
                       loss=dict(negative='mean_similarity', reduction='image',
                                 similarity_scale=2.0))


@pytest.mark.parametrize('options', [{}, RELEASE_OPTIONS], ids=['paper', 'release'])
def test_loss_module_runs_in_fp32_under_autocast(options):
    """Under CPU bf16 autocast the loss (normalisation, similarities, top-k negatives, hinge)
    still runs in fp32: the same fp32 inputs give the same value bit for bit (autocast would
    otherwise run the similarity matrix products in bf16)."""
    torch.manual_seed(0)
    loss = ContextRankingLoss(**options.get('loss', {}))
    pred, target = torch.randn(6, 9, 32), torch.randn(6, 49, 32)
    pos = torch.rand(6, 9, 49) < 0.1
    queue = torch.randn(1, 40, 32)
    for negatives in (None, queue):
        ref = loss(pred, target, pos, negatives=negatives)[0]
        with torch.autocast('cpu', dtype=torch.bfloat16):
            out = loss(pred, target, pos, negatives=negatives)[0]
            low = loss(pred.bfloat16(), target.bfloat16(), pos)[0]  # bf16 maps (AMP outputs)
        assert out.dtype == torch.float32 and torch.equal(out, ref)
        assert low.dtype == torch.float32
    assert torch.equal(low, loss(pred.bfloat16().float(), target.bfloat16().float(), pos)[0])


def test_nmhsa_attention_in_fp32_under_autocast():
    """NMHSA under bf16 autocast: the projections run in bf16, the q/k normalisation, scores
    (cosine / τ, range ±5) and softmax in fp32 — equal to fp32 maths on the bf16 q, k."""
    torch.manual_seed(0)
    pred = NMHSAPredictor(embed_dims=32, num_heads=4, head_dims=8)
    x = torch.randn(2, 32, 3, 3)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out, attn = pred(x, return_attention=True)
        qkv = pred.qkv(x.flatten(2).transpose(1, 2))
    assert qkv.dtype == torch.bfloat16 and out.dtype == torch.bfloat16
    q, k, _ = qkv.view(2, 9, 3, 4, 8).permute(2, 0, 3, 1, 4).float()
    ref = torch.softmax(F.normalize(q, dim=-1) @ F.normalize(k, dim=-1).transpose(-2, -1) / 0.2,
                        dim=-1)
    assert attn.dtype == torch.float32
    assert torch.allclose(attn, ref, rtol=0, atol=1e-6)


@pytest.mark.parametrize('options', [{}, RELEASE_OPTIONS], ids=['paper', 'release'])
@pytest.mark.parametrize('seed', [0, 1, 2])
def test_loss_under_cpu_autocast(options, seed, max_iters):
    """AMP stand-in: one CLoVE step (2 global + 2 local views) under CPU bf16 autocast gives the
    fp32 loss within 0.03. The loss is μ + a combination of cosine similarities with total
    weight (λ + 1)·s (3 for the paper, 6 for the release); 0.03 is ≈ 0.005–0.01 in the
    cosines, i.e. 1–3 bf16 steps at 1 (2⁻⁸), the rounding the bf16 encoder / projector leave
    after the fp32 attention scores and loss. Gradients reach the predictor."""
    cfg = Config.fromfile(DEMO)
    cfg.merge_from_dict(dict(model=dict(neck=dict(hid_channels=64, out_channels=32),
                                        predictor=dict(embed_dims=32, num_heads=4, head_dims=8))))
    cfg.merge_from_dict(dict(model=options))
    torch.manual_seed(seed)
    model = MODELS.build(cfg.model)
    inputs, samples = _batch(2, seed=seed)
    ref = model.loss(inputs, samples)['loss'].item()
    model.target_net.steps.zero_()  # same teacher state (first update copies the online net)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out = model.loss(inputs, samples)
    assert out['loss'].dtype == torch.float32 and math.isfinite(out['loss'].item())
    assert abs(out['loss'].item() - ref) <= 0.03
    out['loss'].backward()
    assert model.predictor.qkv.weight.grad.abs().sum() > 0


# ------------------------------------------------------------------------------ sweep tool
def test_sweep_tables_cover_every_ablation_config_and_collect(tmp_path, capsys):
    import sys
    sys.path.insert(0, osp.join(REPO, 'tools', 'analysis_tools'))
    try:
        import clove_sweep
    finally:
        sys.path.pop(0)
    listed = {osp.join(REPO, r['config']) for t in clove_sweep.TABLES.values() for r in t['rows']}
    on_disk = set(glob.glob(osp.join(REPO, 'configs/clove/ablations/table*/*.py')))
    assert listed == on_disk
    root = str(tmp_path / 'sweeps')
    assert clove_sweep.main(['launch', 'clove-table11', '--dry-run', '--work-root', root,
                             '--launcher', 'echo {config}', '--', '--seed', '1']) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f'echo {clove_sweep.ABL}/table11/clove_50e_tpos0.5.py --work-dir ' \
        f'{root}/clove-table11/clove_50e_tpos0.5 --seed 1' and len(out) == 5
    # a finished row: pretraining log + evaluation json
    wd = tmp_path / 'sweeps' / 'clove-table9' / 'clove_50e_mhsa'
    (wd / 'run' / 'vis_data').mkdir(parents=True)
    (wd / 'run' / 'vis_data' / 'scalars.json').write_text(
        json.dumps(dict(loss=97.25, epoch=50, iter=10)) + '\n')
    (wd / 'eval').mkdir()
    (wd / 'eval' / 'voc.json').write_text(json.dumps(dict(voc07_det_ap=12.34,
                                                          voc07_det_ap50=30.0)))
    md = clove_sweep.collect('clove-table9', root)
    assert '| MHSA | 58.3 | 12.3 | 83.1 | 30.0 | 65.8 | - | epoch 50/50, loss 97.250 |' in md
    assert '| NMHSA | 58.7 | - | 83.3 | - | 65.9 | - | not run |' in md


# ------------------------------------------------------------------------------ transfer
@pytest.mark.parametrize('bench', ['mmdetection/voc0712/faster-rcnn_r50-c4_ms-24k_voc0712.py',
                                   'mmdetection/coco/mask-rcnn_r50_fpn_ms-1x_coco.py'])
def test_benchmark_configs_take_a_clove_checkpoint_unchanged(bench, tmp_path):
    """A paper-config CLoVE checkpoint loads completely into the detection benchmarks (Tables 2
    and 6): the backbone tensors only; target network, projector and NMHSA are dropped."""
    from densepre.transfer.downstream import verify
    from utils import staged  # tests/utils.py
    model = MODELS.build(Config.fromfile(
        osp.join(REPO, 'configs/clove/clove_r50_4xb512-lars_200e.py')).model)
    ckpt = tmp_path / 'clove.pth'
    torch.save({'state_dict': model.state_dict(), 'meta': {'epoch': 200}}, ckpt)
    del model
    cfg, pretrained = staged(osp.join(REPO, 'configs/benchmarks', bench), str(ckpt), tmp_path)
    assert pretrained and all(k.startswith('backbone.') for k in pretrained)
    report = verify(cfg, pretrained)
    assert report[0].startswith('backbone:') and 'random by design' not in report[0]


def test_paper_optimizer_skips_decay_and_lars_on_one_dim_parameters():
    """As released: every 1-D parameter (BN, biases) without weight decay and LARS adaptation;
    every other online parameter with wd 2e-5; the EMA target is not optimised."""
    from mmengine.optim import build_optim_wrapper
    cfg = Config.fromfile(osp.join(REPO, 'configs/clove/clove_r50_4xb512-lars_200e.py'))
    model = MODELS.build(cfg.model)
    ow = {k: v for k, v in cfg.optim_wrapper.items() if k != 'loss_scale'}
    ow['type'] = 'OptimWrapper'
    groups = build_optim_wrapper(model, ow).optimizer.param_groups
    seen = {}
    for g in groups:
        for p in g['params']:
            seen[id(p)] = (g['weight_decay'], g.get('lars_exclude', False))
    names = {id(p): n for n, p in model.named_parameters()}
    assert {names[i] for i in seen} == {n for n, p in model.named_parameters() if p.requires_grad}
    assert not any(n.startswith('target_net') for n in (names[i] for i in seen))
    for n, p in model.named_parameters():
        if id(p) in seen:
            expected = (0.0, True) if p.ndim == 1 else (2e-5, False)
            assert seen[id(p)] == expected, n


# ------------------------------------------------------------------------------ projector benchmark
def test_projector_benchmark_tool_runs_both_implementations(tmp_path, capsys):
    """benchmark_clove_projector.py: BYOL, CLoVE with the 1×1-conv projector and with the
    matrix-product one, interleaved; ``PixelProjector.forward`` restored afterwards."""
    import sys
    sys.path.insert(0, osp.join(REPO, 'tools', 'analysis_tools'))
    try:
        from benchmark_clove_projector import main
    finally:
        sys.path.pop(0)
    forward = PixelProjector.forward
    out = tmp_path / 'times.json'
    times = main([osp.join(REPO, 'tests/configs/byol-mc_r18_tiny.py'), DEMO,
                  '--clove-cfg-options', 'model.neck.hid_channels=64',
                  'model.neck.out_channels=32', 'model.predictor.embed_dims=32',
                  'model.predictor.num_heads=4', 'model.predictor.head_dims=8',
                  '--batch', '2', '--rounds', '1', '--json', str(out),
                  '--threads', str(torch.get_num_threads())])  # leaves the thread count as is
    assert PixelProjector.forward is forward
    assert sorted(times) == ['byol', 'clove_conv', 'clove_matmul']
    assert all(len(v) == 1 and v[0][0] > 0 for v in times.values())
    assert json.loads(out.read_text())['clove_matmul']
    assert 'clove_matmul  median wall' in capsys.readouterr().out
