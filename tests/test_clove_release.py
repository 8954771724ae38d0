"""CLoVE against the authors' released code (github.com/sthalles/CLoVE, ``contrast/loss.py``
``TripletLoss`` and ``contrast/models/CLoVE.py``), on identical weights and inputs in fp64.

The reference below is an independent numpy transcription of the released maths, written from
reading the release (no code copied): per (online view, global target view) pair and image,

* crop boxes as the release records them: ``(x_ul, y_ul, x_lr, y_lr)`` = inclusive pixel indices
  divided by (image size − 1), x swapped on a horizontal flip;
* bin ``(x_lr − x_ul)/W``, cell centres ``(c + 0.5)·bin + start``, distance / larger bin
  diagonal, positive if < 0.7;
* ``logits = −2·q·k`` on unit vectors; ``positives`` = mean logit over the positive pairs
  (÷ (count + 1e−6)); positives set to +inf, the 10 smallest logits per query cell, the first
  dropped, the rest averaged, then averaged over the query cells; ``MarginRankingLoss(margin
  100)(negatives, γ·positives, 1) = max(0, γ·positives − negatives + 100)``, mean over images;
* pairs: each global target with the other global and every local online view, mean over pairs;
* online maps: ``normalize(MultiheadAttention(projector(encoder(x))))`` per view size in one
  pass; target: ``normalize(projector_k(encoder_k(x)))`` of the two global views in one pass.
"""
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
from densepre.models.losses import ContextRankingLoss
from densepre.registry import MODELS

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
DEMO = osp.join(REPO, 'configs/demo/clove_r18_1xb32-64px-40e_demo.py')
RELEASE = osp.join(REPO, 'configs/clove/clove_r50_4xb256-accum2-lars-release_200e.py')


# ------------------------------------------------------------------ the released maths, in numpy
def release_pair_loss(q, k, coord_q, coord_k, gamma=2., pos_ratio=0.7, margin=100.):
    """Released ``TripletLoss.regression_loss`` for one view pair. q, k: (N, C, h, w) unit maps
    (numpy fp64); coord_q, coord_k: (N, 4) release-format boxes."""
    n, c, hq, wq = q.shape
    _, _, hk, wk = k.shape

    def centres(coord, h, w):
        bw, bh = (coord[2] - coord[0]) / w, (coord[3] - coord[1]) / h
        rows, cols = np.meshgrid(np.arange(h), np.arange(w), indexing='ij')
        xy = np.stack([(cols + .5) * bw + coord[0], (rows + .5) * bh + coord[1]], -1)
        return xy.reshape(-1, 2), np.hypot(bw, bh)

    losses = []
    for b in range(n):
        cq, dq = centres(coord_q[b], hq, wq)
        ck, dk = centres(coord_k[b], hk, wk)
        dist = np.sqrt(((cq[:, None] - ck[None]) ** 2).sum(-1)) / max(dq, dk)
        mask = dist < pos_ratio
        logits = -2. * q[b].reshape(c, -1).T @ k[b].reshape(c, -1)
        positives = (logits * mask).sum() / (mask.sum() + 1e-6)
        assert (~mask).sum(-1).min() >= 10, 'the release would average +inf here'
        negatives = np.sort(np.where(mask, np.inf, logits), -1)[:, 1:10].mean(-1).mean()
        losses.append(max(0., -(negatives - gamma * positives) + margin))
    return float(np.mean(losses))


def release_total_loss(gl_q, lo_q, gl_k, gl_coords, lo_coords, **kw):
    """Released ``TripletLoss.forward``: lists of per-view maps / coords; mean over the pairs."""
    total, terms = 0., 0
    for j in range(len(gl_k)):
        for i in range(len(gl_q)):
            if i != j:
                total += release_pair_loss(gl_q[i], gl_k[j], gl_coords[i], gl_coords[j], **kw)
                terms += 1
        for i in range(len(lo_q)):
            total += release_pair_loss(lo_q[i], gl_k[j], lo_coords[i], gl_coords[j], **kw)
            terms += 1
    return total / terms


# ------------------------------------------------------------------ crops in both conventions
def _crops(rng, n, image, out, min_frac, max_frac):
    """Random integer crops (i, j, h, w) of a square ``image`` px image, random flips.

    Returns the release boxes (normalised by image − 1, x swapped when flipped) and densepre
    geometries of the same boxes. densepre records continuous boxes ``(j, i, j + w, i + h)``;
    the release's box spans pixel indices ``j … j + w − 1``, so for identical inputs the geometry
    here is ``(j, i, j + w − 1, i + h − 1)`` (the ratio distance / bin diagonal is invariant to the
    1 / (image − 1) scaling on a square image)."""
    release, geom = [], []
    for _ in range(n):
        h, w = (int(round(image * rng.uniform(min_frac, max_frac))) for _ in range(2))
        i, j = int(rng.integers(0, image - h + 1)), int(rng.integers(0, image - w + 1))
        flip = int(rng.integers(0, 2))
        box = np.array([j, i, j + w - 1, i + h - 1], dtype=np.float64) / (image - 1)
        if flip:
            box[[0, 2]] = box[[2, 0]]
        release.append(box)
        geom.append([j, i, j + w - 1, i + h - 1, flip, out, out, 0])
    return np.stack(release), torch.tensor(geom, dtype=torch.float64)


def test_release_config_loss_equals_released_maths():
    """The shipped ``-release`` config's loss + matching on random unit maps of ResNet-50 sizes
    (7×7 global target vs 7×7 global / 3×3 local online views), random crops and flips."""
    cfg = Config.fromfile(RELEASE)
    loss = MODELS.build(cfg.model.loss)
    assert isinstance(loss, ContextRankingLoss)
    rng = np.random.default_rng(0)
    n, c = 4, 16
    for hw_q, out_q, frac in (((7, 7), 224, (0.45, 1.)), ((3, 3), 96, (0.28, 0.55))):
        rel_q, geom_q = _crops(rng, n, 500, out_q, *frac)
        rel_k, geom_k = _crops(rng, n, 500, 224, 0.45, 1.)
        q = F.normalize(torch.from_numpy(rng.standard_normal((n, c, *hw_q))), dim=1)
        k = F.normalize(torch.from_numpy(rng.standard_normal((n, c, 7, 7))), dim=1)
        pos = neighbourhood_positives(geom_q, hw_q, geom_k, (7, 7), cfg.model.pos_threshold)
        assert pos.any()
        value, ok = loss(q.flatten(2).transpose(1, 2), k.flatten(2).transpose(1, 2), pos)
        ref = release_pair_loss(q.numpy(), k.numpy(), rel_q, rel_k, gamma=loss.lambda_pos,
                                pos_ratio=cfg.model.pos_threshold, margin=loss.margin)
        assert ok.all()
        assert value.mean().item() == pytest.approx(ref, rel=1e-12, abs=1e-12)


def test_paper_config_loss_differs_from_release():
    """The paper-named config (Eq. 2 per matched pair, σ = cosine, negative = mean vector) is a
    different number from the release's on the same inputs (README: paper vs release)."""
    paper = MODELS.build(Config.fromfile(
        osp.join(REPO, 'configs/clove/clove_r50_4xb512-lars_200e.py')).model.loss)
    rng = np.random.default_rng(1)
    rel_q, geom_q = _crops(rng, 2, 500, 224, 0.45, 1.)
    rel_k, geom_k = _crops(rng, 2, 500, 224, 0.45, 1.)
    q = F.normalize(torch.from_numpy(rng.standard_normal((2, 16, 7, 7))), dim=1)
    k = F.normalize(torch.from_numpy(rng.standard_normal((2, 16, 7, 7))), dim=1)
    pos = neighbourhood_positives(geom_q, (7, 7), geom_k, (7, 7), 0.7)
    value, _ = paper(q.flatten(2).transpose(1, 2), k.flatten(2).transpose(1, 2), pos)
    ref = release_pair_loss(q.numpy(), k.numpy(), rel_q, rel_k)
    assert abs(value.mean().item() - ref) > 1e-3


@pytest.mark.parametrize('num_local', [0, 2])
def test_release_model_step_equals_released_code(num_local):
    """One training-mode step of the ``-release`` CLoVE (tiny ResNet-18, fp64) = the released
    forward (encoder → projector → ``nn.MultiheadAttention`` with the same weights → normalise;
    momentum encoder → projector → normalise) + the released loss, on identical inputs."""
    MessageHub.get_current_instance().update_info('max_iters', 100)
    rel = Config.fromfile(RELEASE).model
    torch.manual_seed(0)
    model = _tiny_release_model().double().train()
    assert model.predictor.normalize is False

    rng = np.random.default_rng(0)
    b = 3
    gl_rel, gl_geom = zip(*[_crops(rng, b, 120, 64, 0.45, 1.) for _ in range(2)])
    lo_rel, lo_geom = (zip(*[_crops(rng, b, 120, 32, 0.28, 0.55) for _ in range(num_local)])
                       if num_local else ((), ()))
    groups = ['global'] * 2 + ['local'] * num_local
    samples = []
    for s in range(b):
        ds = DataSample()
        geo = torch.stack([g[s] for g in (*gl_geom, *lo_geom)])
        ds.set_field(geo.numpy(), 'view_geometry', field_type='metainfo')
        ds.set_field(groups, 'view_groups', field_type='metainfo')
        samples.append(ds)
    inputs = [torch.randn(b, 3, 64, 64, dtype=torch.float64) for _ in range(2)]
    inputs += [torch.randn(b, 3, 32, 32, dtype=torch.float64) for _ in range(num_local)]

    out = model.loss(inputs, samples)

    # the released forward with the same weights (the target equals the online net at step 0)
    d = model.predictor.qkv.in_features
    mha = nn.MultiheadAttention(d, model.predictor.num_heads, batch_first=True).double()
    mha.in_proj_weight.data.copy_(model.predictor.qkv.weight)
    mha.in_proj_bias.data.copy_(model.predictor.qkv.bias)
    mha.out_proj.load_state_dict(model.predictor.out_proj.state_dict())

    def featprop(x):
        proj = model.neck(model.backbone(x))
        n, c, h, w = proj.shape
        tokens = proj.view(n, c, h * w).permute(0, 2, 1)
        return F.normalize(mha(tokens, tokens, tokens)[0].permute(0, 2, 1).reshape(n, c, h, w),
                           dim=1)

    with torch.no_grad():
        gl_q = featprop(torch.cat(inputs[:2])).chunk(2)
        lo_q = featprop(torch.cat(inputs[2:])).chunk(num_local) if num_local else ()
        tgt = model.target_net
        gl_k = F.normalize(tgt['neck'](tgt['backbone'](torch.cat(inputs[:2]))), dim=1).chunk(2)
    ref = release_total_loss([x.numpy() for x in gl_q], [x.numpy() for x in lo_q],
                             [x.numpy() for x in gl_k], gl_rel, lo_rel,
                             gamma=rel.loss.lambda_pos, pos_ratio=rel.pos_threshold,
                             margin=rel.loss.margin)
    assert out['matches_per_pair'].item() > 0
    assert out['loss'].item() == pytest.approx(ref, rel=1e-12)


def _tiny_release_model(**overrides):
    rel = Config.fromfile(RELEASE).model
    cfg = Config.fromfile(DEMO)
    cfg.merge_from_dict(dict(model=dict(
        neck=dict(hid_channels=64, out_channels=32),
        predictor=dict(rel.predictor, embed_dims=32, num_heads=4, head_dims=8),
        loss=rel.loss, ema_interval=rel.ema_interval, **overrides)))
    return MODELS.build(cfg.model)


def test_release_config_updates_the_target_once_per_optimizer_step():
    """The release accumulates gradients over 2 steps and moves its momentum encoder only on the
    second (``model(images, m)``): the ``-release`` config averages the target every
    ``accumulative_counts`` loss calls (densepre averages on calls 2, 4, … after the first-call
    copy, i.e. once after each optimizer step)."""
    MessageHub.get_current_instance().update_info('max_iters', 100)
    cfg = Config.fromfile(RELEASE)
    assert cfg.model.ema_interval == cfg.optim_wrapper.accumulative_counts == 2
    model = _tiny_release_model().eval()
    rng = np.random.default_rng(0)
    geoms = [_crops(rng, 2, 120, 64, 0.45, 1.)[1] for _ in range(2)]
    samples = []
    for s in range(2):
        ds = DataSample()
        ds.set_field(torch.stack([g[s] for g in geoms]).numpy(), 'view_geometry',
                     field_type='metainfo')
        ds.set_field(['global'] * 2, 'view_groups', field_type='metainfo')
        samples.append(ds)
    inputs = [torch.randn(2, 3, 64, 64) for _ in range(2)]
    online, target = model.neck.conv2.weight, model.target_net['neck'].conv2.weight
    seen = []
    for call in range(5):
        with torch.no_grad():
            online.add_(0.1)  # an "optimizer step" between calls
        before, m = target.detach().clone(), model.target_net.current_momentum()
        model.loss(inputs, samples)
        seen.append(not torch.equal(target, before))
        if call in (2, 4):
            assert torch.allclose(target, (1 - m) * before + m * online.detach())
    assert seen == [True, False, True, False, True]
