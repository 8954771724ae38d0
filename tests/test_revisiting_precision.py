"""Revisiting-Contrastive precision: the configs train in fp32 as the authors did (AMP is an
option), and whatever precision runs, kNN-MoCo's neighbour search and the MoCo / kNN-MoCo logits
are computed in fp32. Every reference is computed in the same process."""
import copy
import glob
import os.path as osp

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.logging import MessageHub
from mmpretrain.structures import DataSample

from densepre.engine.amp import DenseAmpOptimWrapper, amp_optim_wrapper_cfg
from densepre.registry import MODELS
from utils import REPO

CFG = osp.join(REPO, 'configs/revisiting')
KNN = 'knn-mocov2-mc-cc-m0995-aplus_r50_8xb32-coco_200e.py'
MOCO = 'mocov2-mc-cc-m0995_r50_8xb32-coco_200e.py'
SMALL = dict(queue_len=64, feat_dim=32, backbone=dict(depth=18),
             neck=dict(in_channels=512, hid_channels=64, out_channels=32))
GROUPS = ('query', 'key', 'local', 'local', 'local', 'local')
SIZES = (32, 32, 16, 16, 16, 16)
AMP_DTYPES = [torch.float16, torch.bfloat16]
# fp32 (autocast off) on both sides: only summation-order noise may differ
LOSS_RTOL = 1e-6


@pytest.fixture(autouse=True)
def _runtime_info():
    hub = MessageHub.get_current_instance()
    hub.update_info('max_iters', 100)
    hub.update_info('epoch', 0)


def all_configs():
    return sorted(p for p in glob.glob(osp.join(CFG, '**', '*.py'), recursive=True)
                  if '/_base_/' not in p)


def test_revisiting_configs_train_in_fp32_and_amp_is_an_option():
    paths = all_configs()
    assert len(paths) >= 23
    for path in paths:
        ow = Config.fromfile(path).optim_wrapper.to_dict()
        assert ow['type'] == 'OptimWrapper' and 'loss_scale' not in ow, path
        assert ow['optimizer'] == dict(type='SGD', lr=0.3, weight_decay=1e-4, momentum=0.9), path
        assert amp_optim_wrapper_cfg(ow, device_type='cuda') == ow  # no AMP on a GPU either
    # the documented option: --cfg-options optim_wrapper.type=AmpOptimWrapper
    cfg = Config.fromfile(osp.join(CFG, KNN))
    cfg.merge_from_dict({'optim_wrapper.type': 'AmpOptimWrapper'})
    amp = amp_optim_wrapper_cfg(cfg.optim_wrapper.to_dict(), device_type='cuda')
    assert amp['type'] is DenseAmpOptimWrapper and amp['dtype'] == 'float16'
    assert amp['optimizer'] == cfg.optim_wrapper.optimizer
    # ... or tools/train.py --amp / --amp-dtype (tests/conftest.py puts tools/ on the path)
    import train as train_tool
    path = osp.join(CFG, KNN)
    for argv in ([path, '--amp'], [path, '--amp-dtype', 'float16']):
        cfg = train_tool.merge_args(Config.fromfile(path), train_tool.parse_args(argv))
        amp = amp_optim_wrapper_cfg(cfg.optim_wrapper.to_dict(), device_type='cuda')
        assert amp['type'] is DenseAmpOptimWrapper and amp['dtype'] == 'float16'


def build(name, **model):
    cfg = Config.fromfile(osp.join(CFG, name))
    cfg.merge_from_dict(dict(model=dict(SMALL, **model)))
    torch.manual_seed(0)
    m = MODELS.build(cfg.model)
    m.init_weights()
    return m.train()


def batch(n=4, seed=1):
    gen = torch.Generator().manual_seed(seed)
    inputs = [torch.randn(n, 3, s, s, generator=gen) for s in SIZES]
    samples = []
    for _ in range(n):
        ds = DataSample()
        ds.set_field(GROUPS, 'view_groups')
        samples.append(ds)
    return inputs, samples


class FixedEncoder(torch.nn.Module):
    """Stands in for backbone + neck: fp32 (head, GAP) features of a view, the same under any
    autocast state, so that only the loss side of the step sees autocast."""

    def __init__(self, dim_h, dim_g, seed=2):
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.w_h = torch.nn.Parameter(torch.randn(48, dim_h, generator=gen))
        self.w_g = torch.nn.Parameter(torch.randn(48, dim_g, generator=gen))

    def forward(self, img):
        with torch.autocast('cpu', enabled=False):
            x = F.adaptive_avg_pool2d(img.float(), 4).flatten(1)
            return F.normalize(x @ self.w_h, dim=1), F.normalize(x @ self.w_g, dim=1)


def knn_model_with_near_ties(k=5):
    """kNN-MoCo with fixed encoders and full queues whose backbone side-queue holds, for every
    positive, near-copies of its own feature (cosines 1 - O(1e-3), a few 1e-4 apart: ties in
    fp16 / bf16, distinct in fp32)."""
    model = build(KNN, backbone_dim=64, knn_k=k, warmup_epochs=0)
    enc = FixedEncoder(32, 64)
    inputs, samples = batch()
    with torch.no_grad():
        g = torch.cat([enc(inputs[0])[1], enc(torch.cat(inputs[2:]))[1]])  # the 20 positives
    gen = torch.Generator().manual_seed(4)
    side = F.normalize(g.repeat(4, 1)[:64] + 0.005 * torch.randn(64, 64, generator=gen), dim=1)
    model.queue.enqueue(F.normalize(torch.randn(64, 32, generator=gen), dim=1), backbone=side)
    return model, enc, inputs, samples, g, side


def run_knn(model, enc, inputs, samples, dtype):
    """One kNN-MoCo loss with ``enc`` as both encoders, under CPU autocast ``dtype`` (None: off).
    Returns (loss dict, neighbour indices, d loss / d enc.w_h)."""
    model = copy.deepcopy(model)
    enc = copy.deepcopy(enc)
    model.encode_query_and_backbone = lambda x: enc(x)
    model.encode_key_and_backbone = lambda x: tuple(t.detach() for t in enc(x))
    found = []
    search = model.neighbours

    def spy(g):
        found.append(search(g))
        return found[-1]

    model.neighbours = spy
    with torch.autocast('cpu', dtype=dtype or torch.bfloat16, enabled=dtype is not None):
        out = model.loss(inputs, samples)
    out['loss'].backward()
    assert len(found) == 1 and float(out['knn_active']) == 1
    return out, found[0], enc.w_h.grad


@pytest.mark.parametrize('dtype', AMP_DTYPES)
def test_knn_search_and_losses_in_fp32_under_autocast(dtype):
    model, enc, inputs, samples, g, side = knn_model_with_near_ties()
    ref, ref_idx, ref_grad = run_knn(model, enc, inputs, samples, None)
    out, idx, grad = run_knn(model, enc, inputs, samples, dtype)
    assert torch.equal(idx, ref_idx)
    for key in ('loss', 'inst_ce', 'knn_ce'):
        assert out[key].dtype == torch.float32
        torch.testing.assert_close(out[key], ref[key], rtol=LOSS_RTOL, atol=0)
    torch.testing.assert_close(grad, ref_grad, rtol=1e-5, atol=1e-7)

    # the data discriminates: the same search and logits left to autocast differ
    q = F.normalize(F.adaptive_avg_pool2d(inputs[0], 4).flatten(1) @ enc.w_h.detach(), dim=1)
    with torch.autocast('cpu', dtype=dtype):
        naive_idx = (g @ side.t()).topk(5, dim=1)[1]
        naive = F.log_softmax((q @ model.queue.queue) / 0.2, dim=1)
    assert not torch.equal(naive_idx, (g @ side.t()).topk(5, dim=1)[1])
    exact = F.log_softmax((q @ model.queue.queue) / 0.2, dim=1)
    assert (naive.float() - exact).abs().max() > 1e3 * LOSS_RTOL


def test_knn_neighbours_in_fp32_for_low_precision_features():
    """Features produced by an autocast network arrive in fp16 / bf16: the search runs on them
    upcast (the fp32 search of the same values), not in their dtype."""
    model, _, _, _, g, side = knn_model_with_near_ties()
    for dtype in AMP_DTYPES:
        low = g.to(dtype)
        with torch.autocast('cpu', dtype=dtype):
            idx = model.neighbours(low)
        assert torch.equal(idx, (low.float() @ side.t()).topk(5, dim=1)[1])


@pytest.mark.parametrize('dtype', AMP_DTYPES)
def test_moco_logits_in_fp32_under_autocast(dtype):
    model = build(MOCO)
    gen = torch.Generator().manual_seed(6)
    q = F.normalize(torch.randn(20, 32, generator=gen), dim=1).requires_grad_()
    k = F.normalize(q.detach() + 0.3 * torch.randn(20, 32, generator=gen), dim=1)
    ref = model.contrastive_loss(q, k)
    (ref_grad, ) = torch.autograd.grad(ref, q)
    with torch.autocast('cpu', dtype=dtype):
        out = model.contrastive_loss(q, k)
        naive_logits = q @ model.queue.queue
    (grad, ) = torch.autograd.grad(out, q)
    assert out.dtype == torch.float32 and naive_logits.dtype == dtype
    torch.testing.assert_close(out, ref, rtol=LOSS_RTOL, atol=0)
    torch.testing.assert_close(grad, ref_grad, rtol=1e-5, atol=1e-8)
    # the per-query losses left to autocast differ by more than 10x the tolerance
    l_pos = (q * k).sum(1, keepdim=True).detach()
    rows = [F.cross_entropy(torch.cat([l_pos, neg], 1) / 0.2, torch.zeros(20, dtype=torch.long),
                            reduction='none')
            for neg in (naive_logits.detach().float(), q.detach() @ model.queue.queue)]
    assert (rows[0] - rows[1]).abs().max() > 10 * LOSS_RTOL * rows[1].max()
    # low-precision embeddings (an autocast network's output) are upcast, not computed in dtype
    with torch.autocast('cpu', dtype=dtype):
        low = model.contrastive_loss(q.to(dtype), k.to(dtype))
    torch.testing.assert_close(low, model.contrastive_loss(q.to(dtype).float(),
                                                           k.to(dtype).float()),
                               rtol=LOSS_RTOL, atol=0)


def test_full_knn_step_under_autocast_keeps_fp32_queues_and_losses():
    """The whole step (real ResNet-18 under autocast): losses and enqueued features are fp32."""
    model = build(KNN, backbone_dim=512, knn_k=4, warmup_epochs=0)
    inputs, samples = batch()
    for dtype in AMP_DTYPES:
        with torch.autocast('cpu', dtype=dtype):
            out = model.loss(inputs, samples)
        assert all(out[key].dtype == torch.float32 for key in ('loss', 'inst_ce', 'knn_ce'))
        assert torch.isfinite(out['loss'])
    assert model.queue.queue.dtype == model.queue.side('backbone').dtype == torch.float32
    assert float(out['knn_active']) == 1
