"""CLoVE ``-release`` config through the Runner against an independent transcription of the
released training step (github.com/sthalles/CLoVE ``main_pretrain.py``, ``contrast/lars.py``,
``contrast/util.py``, ``contrast/loss.py``, ``contrast/models/CLoVE.py``), in float64, parameter
by parameter after every optimizer step.

The release's step, as read (no code copied), per micro-batch ``s`` (index over the whole run;
``L`` micro-batches per epoch, gradient accumulation over ``A`` micro-batches):

* ``sync = (s + 1) % A == 0``; on a sync micro-batch the lr of every group is set to
  ``lr_schedule[s]`` and the model is called with ``m = momentum_schedule[s]``, which first moves
  the momentum encoder and projector ``ξ ← m·ξ + (1 − m)·θ`` (parameters only), then runs the
  target; on the other micro-batches the target is not moved;
* ``lr_schedule = cosine_scheduler(lr, lr/100, epochs, L, warmup_epochs, lr/100)``: a
  ``linspace(lr/100, lr, warmup·L)`` warm-up (both ends included), then
  ``lr/100 + (lr − lr/100)·(1 + cos(π·i/n))/2`` over the ``n`` remaining micro-batches;
  ``lr = base_lr · batch · world / 256 · A``; ``momentum_schedule`` = the same cosine from 0.99 to
  1 without warm-up;
* loss ÷ A, backward (gradients accumulate); on a sync micro-batch: LARS wrapper, then
  ``torch.optim.SGD(momentum=0.9)`` without weight decay, zero grad;
* LARS (``add_weight_decay``: every parameter with more than one dimension in the decayed,
  adapted group, every 1-D parameter in a group without decay or adaptation): ``g ← g + wd·p``,
  then ``g ← g · 0.001·‖p‖ / (‖g‖ + 1e−8)`` when both norms are > 0; SGD:
  ``buf ← g`` (first step) else ``buf ← 0.9·buf + g``, ``p ← p − lr·buf``.

The networks (encoder, projector) are deep copies of the densepre model's modules at step 0 and
the attention is an ``nn.MultiheadAttention`` loaded with the predictor's step-0 weights; the
loss is a torch transcription of the release's ``TripletLoss`` with its float32 positive mask
(tests/test_clove_release.py). The micro-batches are the ones the Runner fed to the model.
"""
import copy

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.hooks import Hook

from test_clove_release import RELEASE, release_box, release_pos_mask

BATCH, EPOCHS, WARMUP, IMAGES = 2, 2, 1, 8  # 4 micro-batches per epoch, 2 optimizer steps


# ------------------------------------------------------------------ the release's schedules
def release_cosine_scheduler(base, final, epochs, niter_per_ep, warmup_epochs=0,
                             start_warmup_value=0.):
    warmup = np.linspace(start_warmup_value, base, warmup_epochs * niter_per_ep)
    iters = np.arange(epochs * niter_per_ep - len(warmup))
    cosine = final + 0.5 * (base - final) * (1 + np.cos(np.pi * iters / len(iters)))
    return np.concatenate([warmup, cosine])


# ------------------------------------------------------------------ the release's loss (torch)
def release_pair_loss(q, k, coord_q, coord_k, gamma, pos_ratio, margin):
    """``TripletLoss.regression_loss``: q, k (N, C, h, w) unit maps, coords (N, 4) release
    boxes."""
    mask = torch.from_numpy(np.stack([
        release_pos_mask(coord_q[b], q.shape[-2:], coord_k[b], k.shape[-2:], pos_ratio)
        for b in range(len(q))])).to(q.dtype)
    logits = -2. * q.flatten(2).transpose(1, 2) @ k.flatten(2)
    positives = (logits * mask).sum((1, 2)) / (mask.sum((1, 2)) + 1e-6)
    # with < 10 non-positive target cells the release averages +inf (densepre takes those
    # available, README): the test's crops must stay out of that regime
    assert ((1 - mask).sum(-1) >= 10).all(), 'the release would average +inf here'
    masked = logits.masked_fill(mask.bool(), float('inf'))
    negatives = masked.topk(10, dim=-1, largest=False)[0][:, :, 1:].mean(-1).mean(-1)
    return (gamma * positives - negatives + margin).clamp(min=0).mean()


class ReleaseCLoVE:
    """The released model + optimizer + schedules, on copies of densepre's step-0 modules."""

    def __init__(self, model, lr, weight_decay, epochs, iters_per_epoch, warmup_epochs,
                 accumulation, loss_cfg, pos_ratio):
        self.encoder = copy.deepcopy(model.backbone)
        self.projector = copy.deepcopy(model.neck)
        pred = model.predictor
        d = pred.qkv.in_features
        self.self_attn = nn.MultiheadAttention(d, pred.num_heads, batch_first=True).double()
        with torch.no_grad():
            self.self_attn.in_proj_weight.copy_(pred.qkv.weight)
            self.self_attn.in_proj_bias.copy_(pred.qkv.bias)
            self.self_attn.out_proj.weight.copy_(pred.out_proj.weight)
            self.self_attn.out_proj.bias.copy_(pred.out_proj.bias)
        self.encoder_k = copy.deepcopy(self.encoder).requires_grad_(False)
        self.projector_k = copy.deepcopy(self.projector).requires_grad_(False)
        for m in (self.encoder, self.projector, self.self_attn, self.encoder_k, self.projector_k):
            m.train()
        self.params = [p for m in (self.encoder, self.projector, self.self_attn)
                       for p in m.parameters() if p.requires_grad]
        self.buf = {}
        self.lr_schedule = release_cosine_scheduler(lr, lr * 0.01, epochs, iters_per_epoch,
                                                    warmup_epochs, lr / 100)
        self.momentum_schedule = release_cosine_scheduler(0.99, 1.0, epochs, iters_per_epoch)
        self.wd, self.accumulation = weight_decay, accumulation
        self.gamma, self.margin = loss_cfg['lambda_pos'], loss_cfg['margin']
        self.pos_ratio = pos_ratio

    def online(self, x):
        proj = self.projector(self.encoder(x))
        n, c, h, w = proj.shape
        tokens = proj.view(n, c, h * w).permute(0, 2, 1)
        out = self.self_attn(tokens, tokens, tokens)[0].permute(0, 2, 1).reshape(n, c, h, w)
        return F.normalize(out, dim=1)

    @torch.no_grad()
    def momentum_update(self, m):
        for online, target in ((self.encoder, self.encoder_k), (self.projector, self.projector_k)):
            for p, pk in zip(online.parameters(), target.parameters()):
                pk.copy_(pk * m + p * (1. - m))

    def micro_batch(self, s, images, coords):
        """images: 2 global + N local (B, 3, h, w); coords: per view (B, 4) release boxes."""
        sync = (s + 1) % self.accumulation == 0
        if sync:
            self.momentum_update(self.momentum_schedule[s])
        gl_q = self.online(torch.cat(images[:2])).chunk(2)
        lo_q = self.online(torch.cat(images[2:])).chunk(len(images) - 2) if len(images) > 2 else ()
        with torch.no_grad():
            gl_k = F.normalize(self.projector_k(self.encoder_k(torch.cat(images[:2]))),
                               dim=1).chunk(2)
        total, terms = 0., 0
        for j in range(2):
            for i, q in enumerate((*gl_q, *lo_q)):
                if i != j:
                    total = total + release_pair_loss(q, gl_k[j], coords[i], coords[j],
                                                      self.gamma, self.pos_ratio, self.margin)
                    terms += 1
        (total / terms / self.accumulation).backward()
        if sync:
            self.lars_sgd_step(self.lr_schedule[s])

    @torch.no_grad()
    def lars_sgd_step(self, lr):
        for p in self.params:
            if p.grad is None:
                continue
            g = p.grad
            if p.dim() > 1:  # decayed and adapted group
                g = g + self.wd * p
                p_norm, g_norm = p.norm(), g.norm()
                if p_norm > 0 and g_norm > 0:
                    g = g * (0.001 * p_norm / (g_norm + 1e-8))
            self.buf[p] = g.clone() if p not in self.buf else self.buf[p] * 0.9 + g
            p.sub_(lr * self.buf[p])
            p.grad = None

    def named_state(self):
        """Online and target parameters under densepre's names."""
        out = {}
        for prefix, m in (('backbone.', self.encoder), ('neck.', self.projector),
                          ('target_net.module.backbone.', self.encoder_k),
                          ('target_net.module.neck.', self.projector_k)):
            out.update({prefix + n: p for n, p in m.named_parameters()})
        out['predictor.qkv.weight'] = self.self_attn.in_proj_weight
        out['predictor.qkv.bias'] = self.self_attn.in_proj_bias
        out['predictor.out_proj.weight'] = self.self_attn.out_proj.weight
        out['predictor.out_proj.bias'] = self.self_attn.out_proj.bias
        return out


# ------------------------------------------------------------------ densepre through the Runner
class RecordHook(Hook):
    """Records the step-0 model, each micro-batch the model received (float64 inputs and
    geometries), and the parameters after each iteration."""

    def __init__(self):
        self.initial, self.batches, self.after, self.before = None, [], [], []

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        model = runner.model
        if self.initial is None:
            self.initial = copy.deepcopy(model)
        self.before.append({n: p.detach().clone() for n, p in model.named_parameters()})

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        self.after.append({n: p.detach().clone() for n, p in runner.model.named_parameters()})


def _float64_preprocessor(model, record):
    """Let the fp32 data preprocessor feed the float64 model, and record what it fed."""
    pre = model.data_preprocessor
    forward = pre.forward

    def forward64(data, training=False):
        out = forward(data, training)
        out['inputs'] = [x.double() for x in out['inputs']]
        record.batches.append(([x.clone() for x in out['inputs']], out['data_samples']))
        return out

    pre.forward = forward64


def run_release_config(demo_root, tmp_path, optimizer=None):
    """The ``-release`` config, made tiny (width-reduced ResNet-18, 2 × 96 px + 2 × 48 px views:
    6×6 and 3×3 maps, 8 images, batch 2, accumulation 2, 2 epochs with 1 warm-up epoch), in
    float64 through DenseRunner. Returns (runner, record, config)."""
    from densepre.engine.runner import DenseRunner
    cfg = Config.fromfile(RELEASE)
    assert cfg.optim_wrapper.accumulative_counts == 2
    crop = dict(type='GeoRandomResizedCrop', backend='pillow')
    warm, cos = copy.deepcopy(cfg.param_scheduler)
    assert (warm.type, warm.start_factor, cos.type, cos.eta_min_ratio) == \
        ('LinearLR', 0.01, 'CosineAnnealingLR', 0.01)
    warm.update(end=WARMUP)
    cos.update(T_max=EPOCHS - WARMUP, begin=WARMUP, end=EPOCHS)
    # the release's lr: base_lr 1.0 x batch x world / 256 x accumulation
    lr = 1.0 * BATCH * 1 / 256 * cfg.optim_wrapper.accumulative_counts
    optim = dict(cfg.optim_wrapper, type='OptimWrapper', optimizer=dict(
        cfg.optim_wrapper.optimizer, lr=lr, **(optimizer or {})))
    optim.pop('loss_scale', None)
    cfg.merge_from_dict(dict(
        model=dict(
            backbone=dict(depth=18, base_channels=16, strides=(1, 2, 2, 1),
                          norm_cfg=dict(type='BN')),
            neck=dict(in_channels=128, hid_channels=64, out_channels=32,
                      norm_cfg=dict(type='BN')),
            predictor=dict(embed_dims=32, num_heads=4, head_dims=8)),
        work_dir=str(tmp_path / 'work'),
        train_cfg=dict(max_epochs=EPOCHS),
        default_hooks=dict(checkpoint=dict(interval=100), logger=dict(interval=1)),
        experiment_name=f'clove_trajectory_{tmp_path.name}',
        train_dataloader=dict(batch_size=BATCH, num_workers=0, persistent_workers=False,
                              dataset=dict(data_root=f'{demo_root}/imagenet/', indices=IMAGES,
                                           pipeline=[
            dict(type='LoadImageRobust'),
            dict(type='GeoMultiView', views=[
                dict(num=2, name='global', transforms=[
                    dict(crop, scale=96, crop_ratio_range=(0.3, 1.)),
                    dict(type='RandomFlip', prob=0.5)]),
                dict(num=2, name='local', transforms=[
                    dict(crop, scale=48, crop_ratio_range=(0.05, 0.14)),
                    dict(type='RandomFlip', prob=0.5)])]),
            dict(type='PackInputs', algorithm_keys=['view_geometry', 'view_groups'])]))))
    cfg.optim_wrapper = optim
    cfg.param_scheduler = [warm, cos]
    runner = DenseRunner.from_cfg(cfg)
    runner.model.double()
    record = RecordHook()
    _float64_preprocessor(runner.model, record)
    runner.register_hook(record, priority='LOWEST')
    runner.train()
    return runner, record, cfg


@pytest.fixture(scope='module')
def release_run(demo_root, tmp_path_factory):
    return run_release_config(demo_root, tmp_path_factory.mktemp('clove_trajectory'))


def test_release_ema_moves_on_the_last_micro_batch_of_each_window(release_run):
    """Through the Runner and its optim wrapper (accumulation 2): the target moves only on the
    micro-batches where the optimizer steps (1, 3, 5, 7), by the release's momentum of that
    micro-batch's index, averaging the online weights the micro-batch started from."""
    runner, rec, cfg = release_run
    iters = EPOCHS * IMAGES // BATCH
    assert len(rec.after) == len(rec.before) == iters
    taus = release_cosine_scheduler(0.99, 1.0, EPOCHS, IMAGES // BATCH)
    names = [n for n in rec.after[0] if n.startswith('target_net.module.')]
    assert names
    for s in range(iters):
        before, after = rec.before[s], rec.after[s]
        online_moved = any(not torch.equal(before[n], after[n]) for n in before
                           if n.startswith('backbone.'))
        assert online_moved == (s % 2 == 1), s  # the optimizer steps on odd micro-batches
        for n in names:
            theta = before[n.replace('target_net.module.', '')]
            if s == 0:  # the first call copies θ (the release initialises ξ = θ)
                torch.testing.assert_close(after[n], theta, rtol=0, atol=0)
            elif s % 2 == 0:
                assert torch.equal(after[n], before[n]), (s, n)
            else:
                # the move ξ' − ξ = (1 − τ)(θ − ξ); rtol: densepre computes the cosine's angle
                # in float32 (mmpretrain's CosineEMA convention), ~1e-7 relative on 1 − τ
                torch.testing.assert_close(after[n] - before[n],
                                           (1 - taus[s]) * (theta - before[n]),
                                           rtol=1e-6, atol=1e-15, msg=(s, n))


def test_release_trajectory_equals_released_training_step(release_run):
    """≥ 3 optimizer steps (here 4: 2 in the warm-up, 2 in the cosine) of the ``-release`` config
    through the Runner — its optimizer, lr warm-up + cosine, EMA schedule, accumulation 2 —
    equal the released step's online and target parameters after every optimizer step (fp64)."""
    runner, rec, cfg = release_run
    iters_per_epoch = IMAGES // BATCH
    release = ReleaseCLoVE(rec.initial, lr=cfg.optim_wrapper.optimizer.lr,
                           weight_decay=cfg.optim_wrapper.optimizer.weight_decay,
                           epochs=EPOCHS, iters_per_epoch=iters_per_epoch, warmup_epochs=WARMUP,
                           accumulation=cfg.optim_wrapper.accumulative_counts,
                           loss_cfg=cfg.model.loss, pos_ratio=cfg.model.pos_threshold)
    assert len(rec.batches) == EPOCHS * iters_per_epoch
    initial = {n: p.detach().clone() for n, p in release.named_state().items()}
    worst = {}  # (micro-batch, online / target) -> max |difference| / max |parameter|
    for s, (inputs, samples) in enumerate(rec.batches):
        geoms = np.stack([np.asarray(ds.view_geometry) for ds in samples])  # (B, V, 10)
        coords = [np.stack([release_box(g) for g in geoms[:, v]]) for v in range(geoms.shape[1])]
        release.micro_batch(s, inputs, coords)
        if s % 2 == 0:
            continue
        got, ref = rec.after[s], release.named_state()
        assert set(ref) <= set(got)
        for name, value in ref.items():
            part = 'target' if name.startswith('target_net.') else 'online'
            scale = value.abs().max().clamp(min=1e-3)
            err = ((got[name] - value).abs().max() / scale).item()
            worst[s, part] = max(worst.get((s, part), 0.), err)
            atol = 1e-10 * scale.item()
            if part == 'target':
                # densepre computes the EMA's cosine angle in float32 (mmpretrain's CosineEMA
                # convention): 1 − τ is off by ~1e-7 relative, so ξ by ~1e-7 of its moves
                atol += 1e-6 * (value - initial[name]).abs().max().item()
            torch.testing.assert_close(got[name], value, rtol=1e-10, atol=atol,
                                       msg=lambda m: f'micro-batch {s}, {name}: {m}')
    print('max |difference| / max |parameter| after each optimizer step:',
          {k: f'{v:.1e}' for k, v in worst.items()})
    assert len(worst) == 8
