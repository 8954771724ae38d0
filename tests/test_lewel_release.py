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
