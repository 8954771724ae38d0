"""Losses of BYOL, MoCo v2, LEWEL_B and LEWEL_M on fixed weights and inputs over a few SGD steps.

``tests/test_ema.py`` runs each case twice in one process, with densepre's EMA teacher and with
the library EMA it replaced, and requires bit-identical losses and target weights. Each case has
the config overrides of the code before the EMA teacher (``old``, for the record) and the ones
that select the same behaviour today (``new``). (The values were once recorded to a JSON file
on one CPU; other CPUs pick other kernels and differ in the 7th digit, so nothing is compared
with recorded floats any more.)
"""
import os.path as osp

import torch

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
STEPS = 3

_R18_B = dict(backbone=dict(depth=18),
              neck=dict(in_channels=512, hid_channels=64, out_channels=32),
              head=dict(predictor=dict(in_channels=32, hid_channels=64, out_channels=32)))
_LEWEL = dict(aligned_projector=dict(in_channels=512, hid_channels=64, out_channels=16))
CASES = {
    'byol': dict(config='configs/byol/byol_r50_8xb64_200e.py', model=dict(_R18_B),
                 old=dict(ema_buffers=False), new=dict(teacher_buffers='copy')),
    'byol_ema_buffers': dict(config='configs/byol/byol_r50_8xb64_200e.py', model=dict(_R18_B),
                             old=dict(ema_buffers=True), new=dict(teacher_buffers='ema')),
    'mocov2': dict(config='configs/mocov2/mocov2_r50_8xb32_200e.py',
                   model=dict(queue_len=16, feat_dim=32, backbone=dict(depth=18),
                              neck=dict(in_channels=512, hid_channels=64, out_channels=32)),
                   old=dict(), new=dict()),
    'lewel_b': dict(
        config='configs/lewel/lewel_b_r50_8xb64_200e.py',
        model=dict(_R18_B, **_LEWEL, aligned_head=dict(predictor=dict(
            in_channels=16, hid_channels=64, out_channels=16))),
        old=dict(ema_buffers=True),
        new=dict(teacher_buffers='ema', neck=dict(batch_mode='separate'))),
    'lewel_m': dict(
        config='configs/lewel/lewel_m_r50_8xb32_200e.py',
        model=dict(queue_len=16, feat_dim=32, backbone=dict(depth=18),
                   neck=dict(in_channels=512, hid_channels=64, out_channels=32), **_LEWEL),
        old=dict(symmetric=False), new=dict(symmetric=False, neck=dict(batch_mode='separate'))),
    # symmetric: only the first step (today both keys are no longer both enqueued)
    'lewel_m_symmetric': dict(
        config='configs/lewel/lewel_m_r50_8xb32_200e.py',
        model=dict(queue_len=16, feat_dim=32, backbone=dict(depth=18),
                   neck=dict(in_channels=512, hid_channels=64, out_channels=32), **_LEWEL),
        old=dict(symmetric=True), new=dict(symmetric=True, neck=dict(batch_mode='separate')),
        steps=1),
}


def build(case: dict, which: str):
    from mmengine.config import Config

    from densepre.registry import MODELS
    cfg = Config.fromfile(osp.join(REPO, case['config']))
    cfg.merge_from_dict(dict(model=case['model']))
    cfg.merge_from_dict(dict(model=case[which]))
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    return model.train()


def teacher_tensors(model) -> list:
    """Float tensors of the EMA copies, sorted by value-independent keys (shape, sum)."""
    names = ('target_net', 'encoder_k', 'target_aligned')
    out = [t for k, t in model.state_dict().items()
           if k.startswith(names) and t.is_floating_point()]
    return sorted(float(t.double().sum()) for t in out)


def run(case: dict, which: str, keep_model: bool = False, prepare=None) -> dict:
    """{'losses': [{term: float} per step], 'teacher': sorted sums of the EMA tensors} (and
    'model' with ``keep_model``); ``prepare(model)`` is called once before the first step."""
    from mmengine.logging import MessageHub
    torch.set_num_threads(1)
    MessageHub.get_current_instance().update_info('max_iters', 10)
    model = build(case, which)
    if prepare is not None:
        prepare(model)
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.05,
                          momentum=0.9)
    losses = []
    for step in range(case.get('steps', STEPS)):
        gen = torch.Generator().manual_seed(100 + step)
        x = [torch.randn(4, 3, 64, 64, generator=gen) for _ in range(2)]
        out = model.loss(x, None)
        total, _ = model.parse_losses(out)
        opt.zero_grad()
        total.backward()
        opt.step()
        losses.append({k: float(v.detach()) for k, v in out.items()})
    out = dict(losses=losses, teacher=teacher_tensors(model))
    if keep_model:
        out['model'] = model
    return out
