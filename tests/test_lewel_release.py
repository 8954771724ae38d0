"""The release-equivalent LEWEL_B config against a reference forward written from the authors'
released layout (read, not copied), on identical weights and inputs, in float64.

The reference (``release_loss``) follows the release's description: the coupled head g is a
1-d-conv MLP without biases run ONCE on ``[GAP(F), F]`` (``(N, D, 1 + HW)``); its per-pixel
part is L2-normalised over channels, divided by the scale, soft-maxed over positions and viewed
as ``(N, heads, d/heads, HW)`` — the release's map order, head-major, a permutation of the
paper's Eq. 2 order (densepre) — to pool the ``heads`` channel groups of F; p, q, s are the same
MLPs; the target is in eval mode (EMAN); ``loss = Σ_directions loss_weight·L_inst +
(1 − loss_weight)·L_obj`` with ``loss_weight = 1 − β``.
"""
import copy
import math
import os.path as osp
import sys

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.logging import MessageHub

from densepre.registry import MODELS

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, osp.join(REPO, 'tests', 'helpers'))
import reference_losses  # noqa: E402

sys.path.pop(0)
RELEASE = osp.join(REPO, 'configs/lewel/lewel_b_r50_16xb64-release_200e.py')


def release_model(beta=0.5):
    cfg = Config.fromfile(RELEASE)
    cfg.merge_from_dict(dict(model=reference_losses.CASES['lewel_b']['model']))
    cfg.merge_from_dict(dict(model=dict(beta=beta)))
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    return model.train().to(torch.float64)


# ------------------------------------------------------------------------------ reference
def mlp1d(x, layers, training):
    """conv1d(no bias) → BN1d → ReLU → conv1d(no bias) on (N, C, L); layers = (W1, bn, W2)."""
    w1, bn, w2 = layers
    x = torch.einsum('oc,ncl->nol', w1, x)
    x = F.batch_norm(x, bn['running_mean'], bn['running_var'], bn['weight'], bn['bias'],
                     training=training, eps=1e-5)
    return torch.einsum('oc,ncl->nol', w2, F.relu(x))


def release_neck(feat, g, p, heads, scale, training):
    n, c, h, w = feat.shape
    x = feat.flatten(2)
    z = mlp1d(torch.cat([feat.mean((2, 3))[..., None], x], dim=2), g, training)
    z_g, attn = z.split([1, h * w], dim=2)
    attn = F.softmax(F.normalize(attn, dim=1) / scale, dim=2)
    attn = attn.reshape(n, heads, -1, h * w)  # head-major: map j pools group j // (d/heads)
    obj = torch.matmul(x.reshape(n, heads, -1, h * w), attn.transpose(3, 2))
    obj = mlp1d(obj.reshape(n, c, -1), p, training)
    return z_g, obj


def mse(pred, target):
    return 2 - 2 * (F.normalize(pred, dim=1) * F.normalize(target, dim=1)).sum() / pred.shape[0]


def release_loss(online, target, q, s, x1, x2, heads, scale, loss_weight):
    """``online`` / ``target``: (backbone fn, g, p); q, s: predictor layers."""
    def embed(net, x, training):
        backbone, g, p = net
        return release_neck(backbone(x), g, p, heads, scale, training)

    def loss_func(o, t):
        (z_o, obj_o), (z_t, obj_t) = o, t
        inst = mse(mlp1d(z_o, q, True).squeeze(-1), z_t.squeeze(-1))
        b, c, k = obj_o.shape
        pred = mlp1d(obj_o, s, True).transpose(2, 1).reshape(b * k, c)
        obj = mse(pred, obj_t.transpose(2, 1).reshape(b * k, c))
        return inst * loss_weight + obj * (1 - loss_weight)

    o1, o2 = embed(online, x1, True), embed(online, x2, True)
    with torch.no_grad():
        t1, t2 = embed(target, x1, False), embed(target, x2, False)  # EMAN: eval mode
    return loss_func(o1, t2) + loss_func(o2, t1)


# ------------------------------------------------------------------------------ weights
def release_permutation(d, heads):
    """Row ``r`` of the release's g output is densepre's row ``perm[r]``: release map
    ``i·(d/h) + k`` and densepre map ``k·h + i`` both pool group i of aligned embedding k."""
    per = d // heads
    return torch.tensor([k * heads + i for i in range(heads) for k in range(per)])


def bn_state(bn):
    return dict(weight=bn.weight, bias=bn.bias, running_mean=bn.running_mean.clone(),
                running_var=bn.running_var.clone())


def g_layers(neck, perm):
    conv0, bn, _, conv1 = neck.mlp
    assert conv0.bias is None and conv1.bias is None
    return conv0.weight.flatten(1), bn_state(bn), conv1.weight.flatten(1)[perm]


def mlp_layers(neck, perm_in=None, perm_out=None):
    """mmpretrain NonLinearNeck fc0-bn0-relu-fc1 as (W1, bn, W2), optionally permuted."""
    assert neck.fc0.bias is None and neck.fc1.bias is None
    w1, w2 = neck.fc0.weight, neck.fc1.weight
    if perm_in is not None:
        w1 = w1[:, perm_in]
    if perm_out is not None:
        w2 = w2[perm_out]
    return w1, bn_state(neck.bn0), w2


@pytest.mark.parametrize('beta', [0.5, 0.3])
def test_release_config_loss_equals_release_reference(beta):
    MessageHub.get_current_instance().update_info('max_iters', 10)
    torch.manual_seed(1)
    model = release_model(beta)
    x = [torch.randn(4, 3, 64, 64, dtype=torch.float64) for _ in range(2)]
    model.loss(x, None)  # a first step: the teacher exists and its statistics are EMA'd ones
    with torch.no_grad():  # move online away from the teacher so that EMA matters
        for p in model.parameters():
            if p.requires_grad:
                p.add_(0.01 * torch.randn_like(p))
    x = [torch.randn(4, 3, 64, 64, dtype=torch.float64) for _ in range(2)]
    out = model.loss(x, None)
    total, _ = model.parse_losses(out)

    heads, d = model.num_groups, model.num_maps
    perm = release_permutation(d, heads)
    teacher = model.teacher
    online_backbone = copy.deepcopy(model.backbone)
    online_backbone.train()
    target_backbone = copy.deepcopy(teacher['backbone'])
    target_backbone.eval()

    def fn(backbone):
        return lambda img: backbone(img)[-1]

    online = (fn(online_backbone), g_layers(model.neck, perm),
              mlp_layers(model.aligned_projector))
    target = (fn(target_backbone), g_layers(teacher['neck'], perm),
              mlp_layers(teacher['aligned_projector']))
    q = mlp_layers(model.head.predictor, perm_in=perm, perm_out=perm)
    s = mlp_layers(model.aligned_head.predictor)
    ref = release_loss(online, target, q, s, x[0], x[1], heads, scale=1.0,
                       loss_weight=1 - beta)
    assert total.dtype == torch.float64
    assert total.item() == pytest.approx(ref.item(), rel=1e-10, abs=1e-12)

    # and every gradient of the online network (backbone, g, p, q, s)
    total.backward()
    ours = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    model.zero_grad()
    ref.backward()
    theirs = {n: p.grad for n, p in model.named_parameters() if p.grad is not None}
    theirs.update({f'backbone.{n}': p.grad for n, p in online_backbone.named_parameters()})
    assert set(ours) == set(theirs) and len(ours) > 60
    for n, g in ours.items():
        torch.testing.assert_close(g, theirs[n], rtol=1e-8, atol=1e-12, msg=n)


def test_reference_detects_separate_bn_and_train_mode_target():
    """The comparison is sensitive: the former defaults (g in two passes, train-mode target)
    give another loss on the same weights."""
    MessageHub.get_current_instance().update_info('max_iters', 10)
    losses = {}
    for key, overrides in {'release': {}, 'separate': dict(neck=dict(batch_mode='separate')),
                           'train-target': dict(teacher_buffers='ema')}.items():
        cfg = Config.fromfile(RELEASE)
        cfg.merge_from_dict(dict(model=reference_losses.CASES['lewel_b']['model']))
        cfg.merge_from_dict(dict(model=overrides))
        torch.manual_seed(0)
        model = MODELS.build(cfg.model)
        model.init_weights()
        model = model.train().to(torch.float64)
        gen = torch.Generator().manual_seed(3)
        x = [torch.randn(4, 3, 64, 64, generator=gen, dtype=torch.float64) for _ in range(2)]
        losses[key] = model.parse_losses(model.loss(x, None))[0].item()
    assert losses['separate'] != pytest.approx(losses['release'], rel=1e-6)
    assert losses['train-target'] != pytest.approx(losses['release'], rel=1e-6)


# ------------------------------------------------------------------------------ trajectory
# LEWEL_B (-release config) trained through DenseRunner for several optimizer steps against an
# independent transcription of the release's training loop (main.py `train`, models/lewel.py
# LEWELB_EMAN, utils/LARS.py, utils/lr_schedule.py), both in float64 on the same weights and
# batches. Every parameter and buffer of the online network, the predictors and the target is
# compared after every step.
TINY = dict(
    backbone=dict(depth=18, stem_channels=8, base_channels=8),  # D = 64
    neck=dict(in_channels=64, hid_channels=32, out_channels=16),  # d = 16, h = 4
    aligned_projector=dict(in_channels=64, hid_channels=32, out_channels=16),
    head=dict(predictor=dict(in_channels=16, hid_channels=32, out_channels=16)),
    aligned_head=dict(predictor=dict(in_channels=16, hid_channels=32, out_channels=16)))
EPOCHS, WARMUP_EPOCHS, BATCH, ITERS_PER_EPOCH = 3, 1, 4, 2


class ReleaseLEWELB:
    """The release's LEWELB_EMAN training step, transcribed; state in the release's layout.

    ``params`` / ``buffers``: name → tensor with the release's module names (``online_net.*``,
    ``target_net.*``, ``predictor.*``, ``predictor_obj.*``); the backbone is run functionally
    (the same ResNet architecture) on these tensors. g's rows (and q's input / output) are in the
    release's head-major map order.
    """

    def __init__(self, model, perm, heads, scale, loss_weight, lr, wd, momentum, base_m, eta):
        self.heads, self.scale, self.loss_weight = heads, scale, loss_weight
        self.base_lr, self.wd, self.momentum, self.base_m, self.eta = lr, wd, momentum, base_m, eta
        self.backbone_train = copy.deepcopy(model.backbone)
        self.backbone_train.train()  # (mmpretrain's ResNet.train returns None)
        self.backbone_eval = copy.deepcopy(model.backbone)
        self.backbone_eval.eval()
        self.state = {}
        for n, t in model.backbone.state_dict().items():
            self.state[f'online_net.backbone.{n}'] = t.detach().clone()

        def mlp(prefix, w1, bn, w2):
            self.state[f'{prefix}.mlp.0.weight'] = w1.detach().flatten(1).clone()
            for k in ('weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked'):
                self.state[f'{prefix}.mlp.1.{k}'] = getattr(bn, k).detach().clone()
            self.state[f'{prefix}.mlp.3.weight'] = w2.detach().flatten(1).clone()

        g, p = model.neck.mlp, model.aligned_projector
        mlp('online_net.neck.proj', g[0].weight, g[1], g[3].weight[perm])
        mlp('online_net.neck.proj_obj', p.fc0.weight, p.bn0, p.fc1.weight)
        q, s = model.head.predictor, model.aligned_head.predictor
        mlp('predictor', q.fc0.weight[:, perm], q.bn0, q.fc1.weight[perm])
        mlp('predictor_obj', s.fc0.weight, s.bn0, s.fc1.weight)
        # the target starts as a copy of the online network (models/lewel.py __init__)
        for n in [n for n in self.state if n.startswith('online_net.')]:
            self.state['target_net.' + n[len('online_net.'):]] = self.state[n].clone()
        self.params = [n for n, t in self.state.items()
                       if t.is_floating_point() and not n.startswith('target_net.')
                       and not n.split('.')[-1].startswith(('running_', 'num_'))]
        for n in self.params:
            self.state[n].requires_grad_(True)
        self.momentum_buffer = {}

    # -------------------------------------------------------------- forward (models/lewel.py)
    def _sub(self, prefix):
        return {n[len(prefix):]: t for n, t in self.state.items() if n.startswith(prefix)}

    def _mlp(self, prefix, x, training):
        bn = self._sub(prefix + '.mlp.1.')
        x = torch.einsum('oc,ncl->nol', self.state[prefix + '.mlp.0.weight'], x)
        x = F.batch_norm(x, bn['running_mean'], bn['running_var'], bn['weight'], bn['bias'],
                         training=training, momentum=0.1, eps=1e-5)
        if training:
            bn['num_batches_tracked'].add_(1)
        return torch.einsum('oc,ncl->nol', self.state[prefix + '.mlp.3.weight'], F.relu(x))

    def _encoder(self, net, img):
        training = net == 'online_net'
        module = self.backbone_train if training else self.backbone_eval
        feat = torch.func.functional_call(module, self._sub(f'{net}.backbone.'), (img, ))[-1]
        n, c, h, w = feat.shape
        x = feat.flatten(2)
        z = self._mlp(f'{net}.neck.proj', torch.cat([feat.mean((2, 3))[..., None], x], dim=2),
                      training)
        z_g, attn = z.split([1, h * w], dim=2)
        attn = F.softmax(F.normalize(attn, dim=1) / self.scale, dim=2)
        attn = attn.reshape(n, self.heads, -1, h * w)
        obj = torch.matmul(x.reshape(n, self.heads, -1, h * w), attn.transpose(3, 2))
        return z_g, self._mlp(f'{net}.neck.proj_obj', obj.reshape(n, c, -1), training)

    def loss(self, v1, v2):
        def loss_func(online, target):
            (z_o, obj_o), (z_t, obj_t) = online, target
            inst = mse(self._mlp('predictor', z_o, True).squeeze(-1), z_t.squeeze(-1))
            b, c, k = obj_o.shape
            pred = self._mlp('predictor_obj', obj_o, True).transpose(2, 1).reshape(b * k, c)
            obj = mse(pred, obj_t.transpose(2, 1).reshape(b * k, c))
            return inst * self.loss_weight + obj * (1 - self.loss_weight)

        o1, o2 = self._encoder('online_net', v1), self._encoder('online_net', v2)
        with torch.no_grad():  # LEWELB_EMAN: target_net in eval mode
            t1, t2 = self._encoder('target_net', v1), self._encoder('target_net', v2)
        return loss_func(o1, t2) + loss_func(o2, t1)

    # -------------------------------------------------------------- main.py train loop
    def lr_at(self, epoch, i, iters):
        """utils/lr_schedule.py: per-iteration warm-up, then cosine set at each epoch start."""
        if epoch < WARMUP_EPOCHS:
            return self.base_lr * (epoch * iters + i + 1) / (WARMUP_EPOCHS * iters)
        progress = (epoch - WARMUP_EPOCHS) / (EPOCHS - WARMUP_EPOCHS)
        return self.base_lr * 0.5 * (1. + math.cos(math.pi * progress))

    @torch.no_grad()
    def lars_step(self, grads, lr):
        """utils/LARS.py; groups of main.py `collect_params` (sync_bn=True for LEWELB_EMAN):
        names with 'bn', 'downsample.1', 'bias' or 'mlp.1' get wd 0 and no LARS adaptation."""
        for n, g in zip(self.params, grads):
            p = self.state[n]
            exclude = any(k in n for k in ('bn', 'downsample.1', 'bias', 'mlp.1'))
            wd = 0. if exclude else self.wd
            if exclude:
                local_lr = 1.
            else:
                w_norm, g_norm = torch.norm(p).item(), torch.norm(g).item()
                local_lr = self.eta * w_norm / (g_norm + wd * w_norm)
            d_p = g.add(p, alpha=wd).mul(local_lr * lr)
            if n not in self.momentum_buffer:
                buf = self.momentum_buffer[n] = torch.clone(d_p).detach()
            else:
                buf = self.momentum_buffer[n]
                buf.mul_(self.momentum).add_(d_p)
            p.add_(-buf)

    @torch.no_grad()
    def momentum_update(self, cur_iter, max_iter):
        """models/lewel.py LEWELB_EMAN.momentum_update: EMA of the whole state_dict."""
        m = 1. - (1. - self.base_m) * (math.cos(math.pi * cur_iter / float(max_iter)) + 1) / 2.
        for n in [n for n in self.state if n.startswith('target_net.')]:
            v_tgt, v_ol = self.state[n], self.state['online_net.' + n[len('target_net.'):]]
            if 'num_batches_tracked' in n:
                v_tgt.copy_(v_ol)
            else:
                v_tgt.copy_(v_tgt * m + (1. - m) * v_ol)

    def snapshot(self):
        return {n: t.detach().clone() for n, t in self.state.items()}

    def train(self, batches):
        """Returns (lr, online state after the step, target state after the step) per step."""
        iters = len(batches)
        max_iter = float(iters * EPOCHS)
        out = []
        for epoch in range(EPOCHS):
            for i, (v1, v2) in enumerate(batches):
                lr = self.lr_at(epoch, i, iters)
                loss = self.loss(v1, v2)
                grads = torch.autograd.grad(loss, [self.state[n] for n in self.params])
                self.lars_step(grads, lr)
                self.momentum_update(float(epoch * iters + i), max_iter)
                out.append((lr, self.snapshot()))
        return out


def densepre_in_release_layout(model, perm, teacher=None):
    """densepre's online modules (or its teacher's) under the release's names and layout."""
    out = {}
    net = 'online_net' if teacher is None else 'target_net'
    mods = model.online_modules() if teacher is None else teacher.module
    for n, t in mods['backbone'].state_dict().items():
        out[f'{net}.backbone.{n}'] = t

    def mlp(prefix, w1, bn, w2):
        out[f'{prefix}.mlp.0.weight'] = w1.flatten(1)
        for k in ('weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked'):
            out[f'{prefix}.mlp.1.{k}'] = getattr(bn, k)
        out[f'{prefix}.mlp.3.weight'] = w2.flatten(1)

    g, p = mods['neck'].mlp, mods['aligned_projector']
    mlp(f'{net}.neck.proj', g[0].weight, g[1], g[3].weight[perm])
    mlp(f'{net}.neck.proj_obj', p.fc0.weight, p.bn0, p.fc1.weight)
    if teacher is None:
        q, s = model.head.predictor, model.aligned_head.predictor
        mlp('predictor', q.fc0.weight[:, perm], q.bn0, q.fc1.weight[perm])
        mlp('predictor_obj', s.fc0.weight, s.bn0, s.fc1.weight)
    return {k: v.detach().clone() for k, v in out.items()}


class _Batches(torch.utils.data.Dataset):

    def __init__(self, views):
        self.views = views

    def __len__(self):
        return self.views[0].shape[0]

    def __getitem__(self, i):
        return dict(inputs=[v[i] for v in self.views])


def test_release_config_trajectory_equals_release_transcription(tmp_path):
    """>= 3 optimizer steps (here 6: 2 warm-up iterations, then 2 cosine epochs) of the -release
    config through DenseRunner — its LARS, lr warm-up + cosine, EMA momentum 0.98 -> 1 (cosine)
    after each step, EMAN — equal the transcribed release after EVERY step, for all parameters
    and buffers of the online network, both predictors and the target (float64)."""
    from mmengine.hooks import Hook
    from mmengine.model import BaseDataPreprocessor

    from densepre.engine import DenseRunner

    cfg = Config.fromfile(RELEASE)
    cfg.merge_from_dict(dict(model=TINY))
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    model = model.to(torch.float64)
    model.data_preprocessor = BaseDataPreprocessor()  # the views below are model inputs already

    # the config's schedule, shortened: warm-up WARMUP_EPOCHS, cosine to EPOCHS
    warmup, cosine = copy.deepcopy(cfg.param_scheduler)
    assert warmup.type == 'LinearWarmupLR' and warmup.convert_to_iter_based
    assert cosine.type == 'CosineAnnealingLR' and cosine.by_epoch
    warmup.end = WARMUP_EPOCHS
    cosine.update(begin=WARMUP_EPOCHS, end=EPOCHS, T_max=EPOCHS - WARMUP_EPOCHS)
    optim_wrapper = copy.deepcopy(cfg.optim_wrapper)
    optim_wrapper.dtype = 'float32'  # the documented fp32 option: no autocast on any CPU
    opt = optim_wrapper.optimizer
    # the lr --auto-scale-lr gives this batch (linear from 1024): with 3.6 on 4 images the BN
    # parameters' (non-adapted) steps are so large that fp64 rounding grows ~10x per step
    opt.lr = opt.lr * BATCH / cfg.auto_scale_lr.base_batch_size

    heads, d = model.num_groups, model.num_maps
    perm = release_permutation(d, heads)
    release = ReleaseLEWELB(model, perm, heads, scale=model.temperature,
                            loss_weight=1 - model.beta, lr=opt.lr, wd=opt.weight_decay,
                            momentum=opt.momentum, base_m=1 - model.base_momentum,
                            eta=opt.get('eta', 1e-3))
    gen = torch.Generator().manual_seed(5)
    views = [torch.randn(BATCH * ITERS_PER_EPOCH, 3, 64, 64, generator=gen,
                         dtype=torch.float64) for _ in range(2)]
    batches = [(views[0][i * BATCH:(i + 1) * BATCH], views[1][i * BATCH:(i + 1) * BATCH])
               for i in range(ITERS_PER_EPOCH)]

    class Record(Hook):
        priority = 'LOWEST'

        def __init__(self):
            self.lrs, self.online, self.teacher = [], [], []

        def before_train_iter(self, runner, batch_idx, data_batch=None):
            self.lrs.append(runner.optim_wrapper.get_lr()['lr'])

        def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
            m = runner.model
            self.online.append(densepre_in_release_layout(m, perm))
            self.teacher.append(densepre_in_release_layout(m, perm, m.teacher))

    record = Record()
    initial = densepre_in_release_layout(model, perm)
    runner = DenseRunner(
        model=model, work_dir=str(tmp_path), default_scope='densepre',
        train_dataloader=dict(dataset=_Batches(views), batch_size=BATCH, num_workers=0,
                              sampler=dict(type='DefaultSampler', shuffle=False),
                              collate_fn=dict(type='default_collate')),
        train_cfg=dict(by_epoch=True, max_epochs=EPOCHS), optim_wrapper=optim_wrapper,
        param_scheduler=[warmup, cosine], custom_hooks=[record],
        default_hooks=dict(param_scheduler=dict(type='ParamSchedulerHook')),
        log_level='WARNING')
    runner.train()
    model.update_teacher()  # the release's update after the last step (densepre: next start)
    final_teacher = densepre_in_release_layout(model, perm, model.teacher)

    init = {n: t for n, t in release.snapshot().items() if n.startswith('target_net.')}
    steps = release.train(batches)
    assert len(steps) == len(record.online) == EPOCHS * ITERS_PER_EPOCH >= 3
    expected_lrs = [lr for lr, _ in steps]
    assert all(len(set(group_lrs)) == 1 for group_lrs in record.lrs)
    assert [g[0] for g in record.lrs] == pytest.approx(expected_lrs, rel=1e-12)
    assert expected_lrs[WARMUP_EPOCHS * ITERS_PER_EPOCH - 1] == opt.lr  # warm-up ends at lr

    def compare(ours, theirs, what):
        assert set(ours) == set(theirs), what
        bad = []
        for n, t in theirs.items():
            assert ours[n].dtype == t.dtype, (what, n)
            # measured <= 1.0e-13 of the tensor's scale over the 6 steps; the mmpretrain LARS
            # formula (eps 1e-8 in the trust ratio) instead differs by up to 1.7e-10
            scale = t.abs().max().item() if t.is_floating_point() else 0.
            if not torch.allclose(ours[n], t, rtol=0., atol=1e-11 * scale):
                diff = (ours[n] - t).abs()
                bad.append(f'{n} (max abs. error {diff.max().item():.2e}, rel. '
                           f'{(diff / t.abs().clamp_min(1e-12)).max().item():.2e}, '
                           f'tensor max {t.abs().max().item():.2e})')
        assert not bad, f'{what}: {len(bad)} of {len(theirs)} tensors differ: {bad[:6]}'

    for step, (_, state) in enumerate(steps):
        online = {n: t for n, t in state.items() if not n.startswith('target_net.')}
        compare(record.online[step], online, f'online after step {step}')
        # densepre averages the target at the start of the next iteration: its teacher after
        # step `step` is the release's target after step `step - 1`
        previous = init if step == 0 else {
            n: t for n, t in steps[step - 1][1].items() if n.startswith('target_net.')}
        compare(record.teacher[step], previous, f'target after step {step - 1}')
    compare(final_teacher, {n: t for n, t in steps[-1][1].items()
                            if n.startswith('target_net.')}, 'target after the last step')
    # the run moved every compared tensor family away from its start (no vacuous equality)
    last = record.online[-1]
    for n in ('online_net.neck.proj.mlp.0.weight', 'predictor_obj.mlp.1.weight',
              'online_net.backbone.layer4.1.conv2.weight',
              'online_net.neck.proj.mlp.1.running_var'):
        assert (last[n] - initial[n]).abs().max() > 1e-6, n
    for n in ('target_net.neck.proj_obj.mlp.3.weight', 'target_net.backbone.bn1.running_mean'):
        assert (final_teacher[n] - init[n]).abs().max() > 1e-9, n


def test_speed_tool_refuses_a_directory_without_the_release(tmp_path):
    """tools/analysis_tools/lewel_release_speed.py times densepre against a checkout of the
    release (never part of densepre); without one it stops at once naming the directory."""
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        'lewel_release_speed', osp.join(REPO, 'tools/analysis_tools/lewel_release_speed.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    (tmp_path / 'models').mkdir()
    with pytest.raises(FileNotFoundError, match=f'{tmp_path}.*no models/ package'):
        tool.main(['--release-dir', str(tmp_path)])
