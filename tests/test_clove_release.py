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
from densepre.models.losses import ContextRankingLoss
from densepre.registry import MODELS

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
DEMO = osp.join(REPO, 'configs/demo/clove_r18_1xb32-64px-40e_demo.py')
RELEASE = osp.join(REPO, 'configs/clove/clove_r50_4xb256-accum2-lars-release_200e.py')
PAPER = osp.join(REPO, 'configs/clove/clove_r50_4xb512-lars_200e.py')


# ------------------------------------------------------------------ the released maths, in numpy
def release_pos_mask(coord_q, hw_q, coord_k, hw_k, pos_ratio=0.7):
    """Released positive mask of one image: (hq·wq, hk·wk) bool. coord_q, coord_k: (4,)
    release-format boxes; float32 throughout, as the release computes it (its coords are float32
    tensors)."""
    f = np.float32

    def centres(coord, h, w):
        coord = np.asarray(coord, dtype=f)
        bw, bh = (coord[2] - coord[0]) / f(w), (coord[3] - coord[1]) / f(h)
        rows, cols = np.meshgrid(np.arange(h, dtype=f), np.arange(w, dtype=f), indexing='ij')
        xy = np.stack([(cols + f(.5)) * bw + coord[0], (rows + f(.5)) * bh + coord[1]], -1)
        return xy.reshape(-1, 2), np.sqrt(bw ** 2 + bh ** 2)

    cq, dq = centres(coord_q, *hw_q)
    ck, dk = centres(coord_k, *hw_k)
    dist = np.sqrt(((cq[:, None] - ck[None]) ** 2).sum(-1)) / max(dq, dk)
    return dist < f(pos_ratio)


def release_pair_loss(q, k, coord_q, coord_k, gamma=2., pos_ratio=0.7, margin=100.):
    """Released ``TripletLoss.regression_loss`` for one view pair. q, k: (N, C, h, w) unit maps
    (numpy fp64); coord_q, coord_k: (N, 4) release-format boxes."""
    n, c, hq, wq = q.shape
    _, _, hk, wk = k.shape
    losses = []
    for b in range(n):
        mask = release_pos_mask(coord_q[b], (hq, wq), coord_k[b], (hk, wk), pos_ratio)
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
def release_box(geom):
    """The release's box of a densepre view geometry (one view, numpy): the crop's integer
    ``(i, j, h, w)`` read from the recorded box, then ``RandomResizedCropCoord``'s
    ``(j, i, j+w−1, i+h−1) / (W−1, H−1)``, x swapped by ``RandomHorizontalFlipCoord``."""
    j, i, x2, y2, flip = (float(v) for v in geom[:5])
    img_h, img_w = float(geom[8]), float(geom[9])
    w, h = x2 - j, y2 - i
    assert all(v == int(v) for v in (i, j, w, h)), 'crop of the original image: integer box'
    box = np.array([j / (img_w - 1), i / (img_h - 1), (j + w - 1) / (img_w - 1),
                    (i + h - 1) / (img_h - 1)], dtype=np.float32)
    if flip:
        box[[0, 2]] = box[[2, 0]]
    return box


def _crops(rng, n, image_hw, out, min_frac, max_frac):
    """Random integer crops (i, j, h, w) of an ``image_hw`` image, random flips: densepre
    geometries (as GeoMultiView records them) and the release's boxes of the same crops."""
    img_h, img_w = image_hw
    geom = []
    for _ in range(n):
        h = int(round(img_h * rng.uniform(min_frac, max_frac)))
        w = int(round(img_w * rng.uniform(min_frac, max_frac)))
        i, j = int(rng.integers(0, img_h - h + 1)), int(rng.integers(0, img_w - w + 1))
        geom.append([j, i, j + w, i + h, int(rng.integers(0, 2)), out, out, 0, img_h, img_w])
    geom = torch.tensor(geom, dtype=torch.float64)
    return np.stack([release_box(g) for g in geom.numpy()]), geom


def test_release_config_loss_equals_released_maths():
    """The shipped ``-release`` config's loss + matching on random unit maps of ResNet-50 sizes
    (7×7 global target vs 7×7 global / 3×3 local online views), random crops and flips."""
    cfg = Config.fromfile(RELEASE)
    loss = MODELS.build(cfg.model.loss)
    assert isinstance(loss, ContextRankingLoss)
    rng = np.random.default_rng(0)
    n, c = 4, 16
    for hw_q, out_q, frac in (((7, 7), 224, (0.45, 1.)), ((3, 3), 96, (0.28, 0.55))):
        rel_q, geom_q = _crops(rng, n, (375, 500), out_q, *frac)
        rel_k, geom_k = _crops(rng, n, (375, 500), 224, 0.45, 1.)
        q = F.normalize(torch.from_numpy(rng.standard_normal((n, c, *hw_q))), dim=1)
        k = F.normalize(torch.from_numpy(rng.standard_normal((n, c, 7, 7))), dim=1)
        pos = neighbourhood_positives(geom_q, hw_q, geom_k, (7, 7), cfg.model.pos_threshold,
                                      cfg.model.match_coords)
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
    rel_q, geom_q = _crops(rng, 2, (500, 500), 224, 0.45, 1.)
    rel_k, geom_k = _crops(rng, 2, (500, 500), 224, 0.45, 1.)
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
    gl_rel, gl_geom = zip(*[_crops(rng, b, (90, 120), 64, 0.45, 1.) for _ in range(2)])
    lo_rel, lo_geom = (zip(*[_crops(rng, b, (90, 120), 32, 0.28, 0.55) for _ in range(num_local)])
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
        loss=rel.loss, ema_interval=rel.ema_interval, match_coords=rel.match_coords,
        **overrides)))
    return MODELS.build(cfg.model)


def test_release_config_updates_the_target_once_per_optimizer_step():
    """The release accumulates gradients over 2 micro-batches and moves its momentum encoder only
    on the last one (``model(images, m)`` with ``m = momentum_schedule[step]``, step = the
    micro-batch index), before that micro-batch's target forward: the ``-release`` config
    averages the target on loss calls 1, 3, … (after the first-call copy) with the momentum of
    that call's index."""
    MessageHub.get_current_instance().update_info('max_iters', 100)
    cfg = Config.fromfile(RELEASE)
    assert cfg.model.ema_interval == cfg.optim_wrapper.accumulative_counts == 2
    model = _tiny_release_model().eval()
    rng = np.random.default_rng(0)
    geoms = [_crops(rng, 2, (90, 120), 64, 0.45, 1.)[1] for _ in range(2)]
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
        before = target.detach().clone()
        tau = 1 - 0.01 * (math.cos(math.pi * call / 100) + 1) / 2  # release: 0.99 -> 1 cosine
        model.loss(inputs, samples)
        seen.append(not torch.equal(target, before))
        if call in (1, 3):
            torch.testing.assert_close(target, tau * before + (1 - tau) * online.detach())
    assert seen == [True, True, False, True, False]


@pytest.mark.parametrize('image_hw', [(375, 500), (333, 500), (500, 375)])
def test_release_matching_on_non_square_images(image_hw):
    """The ``-release`` config's positives on ImageNet-shaped (non-square) images: the views of
    its own pipeline (GeoMultiView records the image size), every (global target, other view)
    pair of ResNet-50 map sizes (7×7 at 224 px, 3×3 at 96 px), against the release's mask of the
    same crops (boxes normalised per axis by W − 1, H − 1): 0 entries differ. The paper config's
    pixel-space rule changes a large share of these pairs (issue 18: 17–26 %)."""
    from densepre.registry import TRANSFORMS
    cfg = Config.fromfile(RELEASE)
    assert cfg.model.match_coords == 'release'
    assert Config.fromfile(PAPER).model.match_coords == 'pixel'
    views = TRANSFORMS.build(cfg.train_dataloader.dataset.pipeline[1])
    model = _tiny_release_model()
    np.random.seed(0)
    geoms = []
    for _ in range(6):
        img = np.random.randint(0, 256, (*image_hw, 3), dtype=np.uint8)
        out = views.transform(dict(img=img, img_shape=image_hw, ori_shape=image_hw))
        geoms.append(out['view_geometry'])
    geoms = torch.as_tensor(np.stack(geoms))  # (B, 8 views, 10)
    assert geoms.shape[-1] == 10 and (geoms[..., 8:] == torch.tensor(image_hw)).all()
    groups = list(out['view_groups'])
    targets = [i for i, g in enumerate(groups) if g == 'global']
    hw = {224: (7, 7), 96: (3, 3)}
    compared = differ = changed = positives = 0
    for a in targets:
        for b in range(len(groups)):
            if a == b:
                continue
            hw_q, hw_t = hw[int(geoms[0, b, 5])], hw[int(geoms[0, a, 5])]
            got = model.positives(geoms[:, b], hw_q, geoms[:, a], hw_t)
            pixel = neighbourhood_positives(geoms[:, b], hw_q, geoms[:, a], hw_t, 0.7, 'pixel')
            ref = np.stack([release_pos_mask(release_box(geoms[s, b].numpy()), hw_q,
                                             release_box(geoms[s, a].numpy()), hw_t,
                                             cfg.model.pos_threshold)
                            for s in range(len(geoms))])
            compared += ref.size
            positives += int(ref.sum())
            differ += int((got.numpy() != ref).sum())
            changed += int((pixel.numpy() != ref).sum())
    print(f'{image_hw}: {compared} entries, {positives} release positives, {differ} differ; '
          f'pixel rule changes {changed} ({100 * changed / positives:.1f} % of the positives)')
    assert positives > 100
    assert differ == 0
    assert changed > 0.05 * positives


def test_init_follows_the_release():
    """Both configs initialise as the release does (the paper is silent): after
    ``init_weights()`` (what the Runner calls) the last BN of every bottleneck is zero
    (``zero_init_residual``), convolutions are Kaiming-normal fan-out (the release's
    ``normal(0, √(2/(k²·out)))``), and the attention has ``nn.MultiheadAttention``'s init:
    Xavier-uniform fused q/k/v weight, zero q/k/v and output biases, ``nn.Linear``'s output
    weight. Checked on the statistics of the drawn weights, against a fresh
    ``nn.MultiheadAttention`` of the same size."""
    from mmpretrain.models.backbones.resnet import Bottleneck
    paper, release = Config.fromfile(PAPER).model, Config.fromfile(RELEASE).model
    assert paper.backbone == release.backbone and paper.backbone.zero_init_residual
    torch.manual_seed(0)
    model = MODELS.build(release)
    model.init_weights()

    blocks = [m for m in model.backbone.modules() if isinstance(m, Bottleneck)]
    assert len(blocks) == 16
    for m in blocks:
        assert not m.norm3.weight.any() and not m.norm3.bias.any()
        assert (m.norm1.weight == 1).all() and (m.norm2.weight == 1).all()
    conv = model.backbone.layer1[0].conv2.weight  # 64 x 64 x 3 x 3
    assert conv.std().item() == pytest.approx(math.sqrt(2 / (9 * 64)), rel=0.03)

    def uniform_ok(w, bound):
        w = w.detach()
        assert 0.99 * bound < w.abs().max().item() <= bound * (1 + 1e-6)  # float32 draws
        assert w.std().item() == pytest.approx(bound / math.sqrt(3), rel=0.03)
        assert abs(w.mean().item()) < 5 * bound / math.sqrt(3 * w.numel())

    pred = model.predictor
    d, inner = pred.qkv.in_features, pred.num_heads * pred.head_dims
    mha = nn.MultiheadAttention(d, pred.num_heads, batch_first=True)
    assert pred.qkv.weight.shape == mha.in_proj_weight.shape
    assert not pred.qkv.bias.any() and not pred.out_proj.bias.any()
    assert not mha.in_proj_bias.any() and not mha.out_proj.bias.any()
    for ours, theirs, bound in (
            (pred.qkv.weight, mha.in_proj_weight, math.sqrt(6 / (d + 3 * inner))),
            (pred.out_proj.weight, mha.out_proj.weight, 1 / math.sqrt(inner))):
        uniform_ok(ours, bound)
        uniform_ok(theirs, bound)
