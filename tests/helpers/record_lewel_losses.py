"""The LEWEL_B / LEWEL_M loss terms of three training steps on fixed weights and inputs.

tests/test_pair_loops.py compares them, step by step, with a hand transcription of the loss
computed in the same process (never with values recorded on one CPU: other CPUs pick other
kernels and differ in the 7th digit). Print them with

    PYTHONPATH=$PWD OMP_NUM_THREADS=1 python tests/helpers/record_lewel_losses.py
"""
import os.path as osp

import torch
from mmengine.config import Config
from mmengine.logging import MessageHub

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = {
    'b': osp.join(REPO, 'configs/lewel/lewel_b_r50_8xb64_200e.py'),
    'm': osp.join(REPO, 'configs/lewel/lewel_m_r50_8xb32_200e.py'),
}
TINY = {
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


def lewel_losses(kind, steps=3, before_step=None):
    """{step: {term: float}} of ``steps`` loss + SGD steps of a tiny LEWEL model (fp32, CPU).
    ``before_step(model, inputs)`` is called before every step's loss."""
    from densepre.registry import MODELS
    from densepre.utils import register_all_modules
    register_all_modules()
    MessageHub.get_current_instance().update_info('max_iters', 100)
    cfg = Config.fromfile(CONFIGS[kind])
    cfg.merge_from_dict(dict(model=TINY[kind]))
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    gen = torch.Generator().manual_seed(1)
    out = {}
    for step in range(steps):
        inputs = [torch.randn(4, 3, 64, 64, generator=gen) for _ in range(2)]
        if before_step is not None:
            before_step(model, inputs)
        losses = model.loss(inputs, [None] * 4)
        total = sum(v for k, v in losses.items() if 'loss' in k)
        opt.zero_grad()
        total.backward()
        opt.step()
        MessageHub.get_current_instance().update_info('iter', step + 1)
        out[step] = {k: float(v) for k, v in losses.items()}
    return out


if __name__ == '__main__':
    for kind in ('b', 'm'):
        for step, terms in lewel_losses(kind).items():
            print(kind, step, {k: v.hex() for k, v in sorted(terms.items())})
