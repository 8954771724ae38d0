"""LOCA components: ViT without class token, token dropping, patch tracker, reference masking,
position head, cluster head, Sinkhorn-Knopp (incl. 2 gloo ranks)."""
import math
import multiprocessing as mp
import os
import socket
from fractions import Fraction

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmcv.transforms import Compose
from mmengine.logging import MessageHub
from mmengine.structures import BaseDataElement

from densepre.models.backbones import LOCAViT
from densepre.models.heads import LOCAClusterHead, LOCAPositionHead
from densepre.models.utils.masking import num_visible, visible_token_indices
from densepre.models.utils.patch_tracker import track_patches
from densepre.models.utils.sinkhorn import sinkhorn_knopp
from densepre.registry import MODELS

TINY_ARCH = dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64)


# ------------------------------------------------------------------ ViT
def test_vit_has_mmpretrain_layout_without_class_token_and_drop_path():
    from mmpretrain.models import VisionTransformer
    vit = LOCAViT(arch='b')
    ref = VisionTransformer(arch='b', img_size=224, patch_size=16, with_cls_token=False,
                            out_type='featmap')
    a, b = vit.state_dict(), ref.state_dict()
    assert a.keys() == b.keys() and all(a[k].shape == b[k].shape for k in a)
    assert vit.cls_token is None and vit.pos_embed.shape == (1, 196, 768)
    assert vit.layers[-1].ffn.dropout_layer.drop_prob == pytest.approx(0.1)
    assert vit.layers[0].ffn.dropout_layer.drop_prob == 0


def test_pos_embed_resized_for_96px_queries():
    vit = LOCAViT(arch=TINY_ARCH, img_size=224, patch_size=16)
    vit.init_weights()
    torch.testing.assert_close(vit.pos_embed_for((14, 14)), vit.pos_embed)
    pe = vit.pos_embed_for((6, 6))
    assert pe.shape == (1, 36, 32)
    # a constant embedding stays constant under the resize; a ramp stays monotone
    with torch.no_grad():
        ramp = torch.arange(14.).repeat(14)[None, :, None].expand(1, 196, 32)
        vit.pos_embed.copy_(ramp)
    pe = vit.pos_embed_for((6, 6))[0, :6, 0]
    assert (pe[1:] > pe[:-1]).all() and pe[0] > 0 and pe[-1] < 13
    tokens, keep, hw = vit.forward_tokens(torch.randn(2, 3, 96, 96))
    assert tokens.shape == (2, 36, 32) and keep is None and hw == (6, 6)
    assert vit(torch.randn(1, 3, 96, 96))[0].shape == (1, 32, 6, 6)


def identity_layers(vit):
    """Zero the residual branches' output projections: every block becomes the identity."""
    with torch.no_grad():
        for layer in vit.layers:
            layer.attn.proj.weight.zero_()
            layer.attn.proj.bias.zero_()
            layer.ffn.layers[-2].weight.zero_()
            layer.ffn.layers[-2].bias.zero_()


def test_token_dropping_keeps_the_tokens_it_reports():
    vit = LOCAViT(arch=TINY_ARCH, img_size=224, patch_size=16, drop_path_rate=0.)
    vit.init_weights()
    identity_layers(vit)
    vit.eval()
    x = torch.randn(3, 3, 224, 224)
    full, _, _ = vit.forward_tokens(x)
    torch.manual_seed(0)
    kept, idx, _ = vit.forward_tokens(x, num_keep=70)
    assert kept.shape == (3, 70, 32) and idx.shape == (3, 70)
    assert all(len(set(r.tolist())) == 70 for r in idx) and (idx[0] != idx[1]).any()
    torch.testing.assert_close(kept, full.gather(1, idx[..., None].expand(-1, -1, 32)))
    # fewer patches than num_keep (96-px focal queries): nothing dropped
    out, idx, _ = vit.forward_tokens(torch.randn(2, 3, 96, 96), num_keep=70)
    assert idx is None and out.shape[1] == 36


# ------------------------------------------------------------------ patch tracker
def coordinate_image(h, w):
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    return np.stack([xs + 0.5, ys + 0.5, np.zeros_like(xs)], axis=-1)


def patch_boxes(view, p):
    """Brute force from the pixels: the original-image box each p x p patch shows (B, 4)."""
    h, w = view.shape[:2]
    cells = view[..., :2].reshape(h // p, p, w // p, p, 2).transpose(0, 2, 1, 3, 4)
    cells = cells.reshape(-1, p * p, 2)
    return np.concatenate([cells.min(1) - 0.5, cells.max(1) + 0.5], axis=1)


def brute_force_tracker(query, reference, p):
    """Reference patch of greatest overlap area for each query patch (from decoded pixels);
    -1 when the query patch centre is outside the reference; plus a mask of the patches whose
    answer is not ambiguous (clear overlap margin, centre not on a border)."""
    qb, rb = patch_boxes(query, p), patch_boxes(reference, p)
    ix = np.clip(np.minimum(qb[:, None, 2], rb[None, :, 2]) -
                 np.maximum(qb[:, None, 0], rb[None, :, 0]), 0, None)
    iy = np.clip(np.minimum(qb[:, None, 3], rb[None, :, 3]) -
                 np.maximum(qb[:, None, 1], rb[None, :, 1]), 0, None)
    area = ix * iy
    best = area.argmax(1)
    srt = np.sort(area, axis=1)
    q_area = (qb[:, 2] - qb[:, 0]) * (qb[:, 3] - qb[:, 1])
    cx, cy = (qb[:, 0] + qb[:, 2]) / 2, (qb[:, 1] + qb[:, 3]) / 2
    rx1, ry1 = rb[:, 0].min(), rb[:, 1].min()
    rx2, ry2 = rb[:, 2].max(), rb[:, 3].max()
    inside = (cx > rx1) & (cx < rx2) & (cy > ry1) & (cy < ry2)
    margin = np.minimum.reduce([np.abs(cx - rx1), np.abs(cx - rx2), np.abs(cy - ry1),
                                np.abs(cy - ry2)])
    clear = (margin > 3) & ((srt[:, -1] - srt[:, -2]) > 0.02 * q_area)
    return np.where(inside, best, -1), clear


@pytest.mark.parametrize('seed', range(3))
def test_tracker_matches_brute_force_on_coded_image(seed):
    """224 reference (no flip), 224 query and 96 focal queries (flipped half the time): the
    tracker on the recorded geometry equals the greatest-overlap patch found from the pixels."""
    img = coordinate_image(600, 800)
    crop = dict(type='GeoRandomResizedCrop', interpolation='nearest', backend='pillow')
    views = [
        dict(num=1, name='reference', transforms=[
            dict(crop, scale=224, crop_ratio_range=(0.32, 1.))]),
        dict(num=1, name='query', transforms=[
            dict(crop, scale=224, crop_ratio_range=(0.32, 1.)),
            dict(type='RandomFlip', prob=0.5)]),
        dict(num=6, name='query', transforms=[
            dict(crop, scale=96, crop_ratio_range=(0.05, 0.32)),
            dict(type='RandomFlip', prob=0.5)]),
    ]
    np.random.seed(seed)
    out = Compose([dict(type='GeoMultiView', views=views)])(
        dict(img=img, ori_shape=img.shape[:2], img_shape=img.shape[:2]))
    geom = torch.as_tensor(out['view_geometry'])
    reference = out['img'][0]
    compared = hits = 0
    flips, outside = set(), 0
    for view, g in zip(out['img'][1:], geom[1:]):
        hw = (view.shape[0] // 16, view.shape[1] // 16)
        got = track_patches(g[None], hw, geom[:1], (14, 14), 16)[0].numpy()
        want, clear = brute_force_tracker(view, reference, 16)
        compared += clear.sum()
        hits += (got == want)[clear].sum()
        flips.add(bool(g[4]))
        outside += (want == -1).sum()
        # dropped tokens: the tracker follows the kept ones
        keep = torch.randperm(hw[0] * hw[1])[:hw[0] * hw[1] // 3].sort().values[None]
        kept = track_patches(g[None], hw, geom[:1], (14, 14), 16, keep)[0].numpy()
        np.testing.assert_array_equal(kept, got[keep[0].numpy()])
    assert compared > 0.75 * (196 + 6 * 36), compared
    assert hits == compared, (hits, compared)
    assert seed or flips == {True, False}


# ------------------------------------------------------------------ masking
@pytest.mark.parametrize('mode', ['structured', 'unstructured'])
@pytest.mark.parametrize('eta,visible', [(0.8, 40), (0., 196), (0.5, 98), (0.9, 20), (1., 0)])
def test_reference_masking_keeps_exactly_the_configured_share(mode, eta, visible):
    assert num_visible(196, eta) == visible
    torch.manual_seed(0)
    idx = visible_token_indices(500, 196, visible, mode)
    assert idx.shape == (500, visible)
    if visible == 0:
        return
    assert idx.min() >= 0 and idx.max() < 196
    assert all(len(set(r.tolist())) == visible for r in idx[:50])
    if mode == 'structured':
        assert (idx[:, 1:] - idx[:, :-1] == 1).all()  # one consecutive run
        starts = idx[:, 0]
        if visible < 196:  # offsets cover [0, N - keep] with both ends reachable
            assert starts.min() == 0 and starts.max() == 196 - visible
    elif visible < 196:
        assert not (idx[:, 1:] - idx[:, :-1] == 1).all(1).all()


def test_bad_masking_options_are_refused():
    with pytest.raises(ValueError, match='mask_ratio'):
        num_visible(196, 1.5)
    with pytest.raises(ValueError, match='structured'):
        visible_token_indices(2, 196, 40, 'blocks')


# ------------------------------------------------------------------ position head
def test_position_head_is_cross_attention_and_ignores_outside_patches():
    torch.manual_seed(0)
    head = LOCAPositionHead(32, 2, 64, num_positions=196)
    head.init_weights()
    q, kv = torch.randn(2, 5, 32), torch.randn(2, 40, 32)
    logits = head(q, kv)
    assert logits.shape == (2, 5, 196)
    # query tokens do not see each other in the head, they see the reference
    q2 = q.clone()
    q2[:, 0] += 1
    torch.testing.assert_close(head(q2, kv)[:, 1:], logits[:, 1:])
    assert not torch.allclose(head(q, kv + 1)[:, 1:], logits[:, 1:])
    # η = 1: nothing visible, the block is then the MLP part only
    none = head(q, kv[:, :0])
    x = q + head.mlp(head.norm_mlp(q))
    torch.testing.assert_close(none, head.classifier(head.norm_out(x)))
    targets = torch.tensor([[3, -1, 7, 195, -1], [-1, -1, 0, 1, 2]])
    valid = targets >= 0
    lse = logits.logsumexp(-1)
    manual = (lse - logits.gather(-1, targets.clamp(min=0)[..., None])[..., 0])[valid].mean()
    torch.testing.assert_close(head.loss(logits, targets), manual)
    zero = head.loss(logits, torch.full_like(targets, -1))
    assert zero.item() == 0 and zero.requires_grad


# ------------------------------------------------------------------ cluster head + Sinkhorn
def test_cluster_head_shapes_normalised_prototypes():
    torch.manual_seed(0)
    head = LOCAClusterHead(32, hid_channels=64, bottleneck_channels=16, num_prototypes=24)
    head.init_weights()
    assert [type(m).__name__ for m in head.mlp] == ['Linear', 'GELU', 'Linear', 'GELU', 'Linear']
    x = torch.randn(3, 7, 32)
    logits = head(x)
    assert logits.shape == (3, 7, 24) and logits.abs().max() <= 1 + 1e-5
    with torch.no_grad():
        head.prototypes.mul_(torch.rand(24, 1) * 10 + 0.1)  # weight normalisation: no effect
    torch.testing.assert_close(head(x), logits)


def test_sinkhorn_hand_sized_example():
    """One iteration on a 3x2 matrix, by hand: column sums 11/5, 4/5 -> rows renormalised."""
    p = torch.tensor([[0.5, 0.5], [0.9, 0.1], [0.8, 0.2]], dtype=torch.float64)
    hand = [[Fraction(4, 15), Fraction(11, 15)], [Fraction(36, 47), Fraction(11, 47)],
            [Fraction(16, 27), Fraction(11, 27)]]
    one = sinkhorn_knopp(p, 1)
    np.testing.assert_allclose(one.numpy(), np.array(hand, dtype=np.float64), rtol=1e-6)
    # marginals: rows are distributions after any number of iterations; the prototype masses
    # move towards N/K = 1.5 and reach it at convergence
    cols = [sinkhorn_knopp(p, n).sum(0) for n in (1, 3, 50)]
    for n, q in zip((1, 3, 50), [sinkhorn_knopp(p, n) for n in (1, 3, 50)]):
        torch.testing.assert_close(q.sum(1), torch.ones(3, dtype=torch.float32))
    errs = [float((c - 1.5).abs().max()) for c in cols]
    assert errs[0] < 0.7 and errs[1] < errs[0] and errs[2] < 1e-5
    assert float((p.sum(0) - 1.5).abs().max()) == pytest.approx(0.7)


def test_cluster_loss_by_hand():
    torch.manual_seed(0)
    head = LOCAClusterHead(8, hid_channels=16, bottleneck_channels=4, num_prototypes=5)
    teacher = torch.rand(6, 5) * 2 - 1
    targets = head.targets(teacher)
    want = sinkhorn_knopp(F.softmax(teacher / 0.05, -1), 3)
    torch.testing.assert_close(targets, want)
    student = torch.rand(6, 5) * 2 - 1
    valid = torch.tensor([True, False, True, True, False, True])
    out = head.loss(student, targets, valid)
    logp = F.log_softmax(student / 0.1, -1)
    ce = -(targets * logp).sum(-1)[valid].mean()
    pbar = logp.exp().mean(0)  # me-max over ALL query patches (authors' code)
    torch.testing.assert_close(out['loss_cluster'], ce)
    torch.testing.assert_close(out['loss_memax'], (pbar * pbar.log()).sum())
    assert out['loss_memax'] >= -math.log(5) - 1e-6


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _dist_worker(rank, port, probs, student, valid, queue):
    import torch.distributed as dist
    dist.init_process_group('gloo', init_method=f'tcp://127.0.0.1:{port}', rank=rank,
                            world_size=2)
    try:
        half = probs.shape[0] // 2
        part = slice(rank * half, (rank + 1) * half)
        q = sinkhorn_knopp(probs[part], 3)
        head = LOCAClusterHead(8, hid_channels=16, bottleneck_channels=4,
                               num_prototypes=probs.shape[1])
        s = student[part].clone().requires_grad_(True)
        loss = head.loss(s, q, valid[part])['loss_memax']
        loss.backward()
        from mmpretrain.models.losses.swav_loss import distributed_sinkhorn
        swav = distributed_sinkhorn(probs[part].log() * 0.05, 3, 2, 0.05)
        queue.put((rank, q.numpy().copy(), float(loss), s.grad.numpy().copy(),
                   swav.numpy().copy()))
    finally:
        dist.destroy_process_group()


def test_sinkhorn_and_me_max_over_two_gloo_ranks_equal_one_process():
    """Sinkhorn's prototype masses and me-max's mean prediction are taken over the global batch:
    2 ranks with half the rows each give the single-process result (mmpretrain's SwAV
    distributed_sinkhorn does not all-reduce its row sums, so it fails this)."""
    torch.manual_seed(0)
    probs = F.softmax(torch.randn(12, 5) / 0.3, -1)
    student = torch.randn(12, 5)
    valid = torch.ones(12, dtype=torch.bool)
    ctx = mp.get_context('fork')
    queue, port = ctx.Queue(), _free_port()
    procs = [ctx.Process(target=_dist_worker, args=(r, port, probs, student, valid, queue))
             for r in range(2)]
    for p in procs:
        p.start()
    results = dict((r[0], r[1:]) for r in (queue.get(timeout=120) for _ in procs))
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    np.testing.assert_allclose(np.concatenate([results[0][0], results[1][0]]),
                               sinkhorn_knopp(probs, 3).numpy(), rtol=1e-5, atol=1e-7)
    # me-max: same value on both ranks = the global one; DDP's gradient average = global grad
    head = LOCAClusterHead(8, hid_channels=16, bottleneck_channels=4, num_prototypes=5)
    s = student.clone().requires_grad_(True)
    glob = head.loss(s, probs, valid)['loss_memax']
    glob.backward()
    assert results[0][1] == pytest.approx(glob.item(), rel=1e-5)
    assert results[1][1] == pytest.approx(glob.item(), rel=1e-5)
    from mmpretrain.models.losses.swav_loss import distributed_sinkhorn
    swav_one = distributed_sinkhorn(probs.log() * 0.05, 3, 1, 0.05).numpy()
    swav_two = np.concatenate([results[0][3], results[1][3]])
    assert np.abs(swav_two - swav_one).max() > 1e-3  # why it is not reused
    ddp_grad = np.concatenate([results[0][2], results[1][2]]) / 2  # DDP averages over ranks
    np.testing.assert_allclose(ddp_grad, s.grad.numpy(), rtol=1e-4, atol=1e-7)
