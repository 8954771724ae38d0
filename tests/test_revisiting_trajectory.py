"""kNN-MoCo `-release` config: a multi-epoch run through the Runner (SGD, per-epoch cosine lr,
key-encoder momentum, queue and side-queue updates, the nn-loss warm-up switch) equals an
independent transcription of the authors' released training loop after every optimizer step
(float64, same weights and views)."""
import copy
import math
import os.path as osp

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.model import BaseDataPreprocessor
from mmpretrain.structures import DataSample
from torch.utils.data import DataLoader

from densepre.engine.runner import DenseRunner
from densepre.registry import MODELS
from utils import REPO

RELEASE = osp.join(REPO,
                   'configs/revisiting/knn-mocov2-mc-cc-m0995-aplus_r50_8xb32-coco-release_200e.py')
GROUPS = ('query', 'key', 'local', 'local', 'local', 'local')
SIZES = (32, 32, 16, 16, 16, 16)
B, EPOCHS, ITERS, K, TOPK = 4, 3, 2, 8, 3
# the release config scaled down: width-reduced ResNet-18 (64-d GAP), 16-d head, queue of 8
TINY = dict(queue_len=K, feat_dim=16, knn_k=TOPK, warmup_epochs=1, backbone_dim=64,
            backbone=dict(depth=18, stem_channels=8, base_channels=8),
            neck=dict(in_channels=64, hid_channels=32, out_channels=16))
# float64 on both sides; observed differences are summation-order noise (~1e-15)
TOL = dict(rtol=1e-9, atol=1e-11)


class Float64Inputs(BaseDataPreprocessor):
    """fp64 stand-in for the data preprocessor: the views (already normalised) as float64."""

    def forward(self, data, training=False):
        data = self.cast_data(data)
        return dict(inputs=[x.double() for x in data['inputs']],
                    data_samples=data['data_samples'])


class Views(torch.utils.data.Dataset):
    """B * ITERS fixed samples of six views (query, key, 4 small crops)."""

    def __init__(self):
        gen = torch.Generator().manual_seed(11)
        self.views = [[torch.randn(3, s, s, generator=gen, dtype=torch.float64) for s in SIZES]
                      for _ in range(B * ITERS)]

    def __len__(self):
        return len(self.views)

    def __getitem__(self, i):
        ds = DataSample()
        ds.set_field(GROUPS, 'view_groups')
        return dict(inputs=self.views[i], data_samples=ds)


def collate(items):
    return dict(inputs=[torch.stack(v) for v in zip(*[it['inputs'] for it in items])],
                data_samples=[it['data_samples'] for it in items])


def snapshot(model):
    with torch.no_grad():
        return dict(
            q={n: p.detach().clone() for n, p in model.named_parameters()
               if not n.startswith('encoder_k')},
            k={n[len('encoder_k.module.'):]: p.detach().clone()
               for n, p in model.named_parameters() if n.startswith('encoder_k.module.')},
            queue=model.queue.queue.clone(), queue_g=model.queue.side('backbone').clone())


class Record(Hook):
    def __init__(self):
        self.states, self.lrs, self.knn = [], [], []

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        self.states.append(snapshot(runner.model))
        self.lrs.append(runner.optim_wrapper.get_lr()['lr'][0])
        self.knn.append(float(outputs['knn_active']))


def released_run(model0, loader, epochs, lr0, momentum, wd, m, tau, topk, lam, warmup, queue0,
                 queue_g0):
    """Hand transcription of the authors' loop (main_ours_warmup.py ``main_worker`` / ``train`` /
    ``adjust_learning_rate``, builder_ours_warmup.py ``MoCo.forward`` / ``pull_topk`` /
    ``_momentum_update_key_encoder`` / ``_dequeue_and_enqueue``; read, not copied) with
    torch.optim.SGD's update written out. One process (ShuffleBN is then the identity).
    ``model0``: a module with ``backbone`` and ``neck`` (the query encoder at initialisation).
    Returns the state after every optimizer step."""
    enc_q = copy.deepcopy(torch.nn.ModuleDict(dict(backbone=model0.backbone, neck=model0.neck)))
    enc_k = copy.deepcopy(enc_q)  # param_k.data.copy_(param_q.data)
    for p in enc_k.parameters():
        p.requires_grad = False
    queue, queue_g = queue0.clone(), queue_g0.clone()
    ptr, buf, states = 0, {}, []

    def encode(enc, x):  # (head output, GAP backbone feature: the avgpool hook)
        feats = enc['backbone'](x)
        return enc['neck'](feats)[0], feats[-1].mean((2, 3))

    for epoch in range(epochs):
        lr = lr0 * 0.5 * (1. + math.cos(math.pi * epoch / epochs))  # --cos, set once per epoch
        use_aux = epoch >= warmup
        for batch in loader:
            im_q, im_k, *small = batch['inputs']
            b = im_q.shape[0]
            im_small = torch.stack(small, dim=1).flatten(0, 1)  # the loader's (b, 4) order
            h, g = encode(enc_q, im_q)
            q = F.normalize(h, dim=-1).unsqueeze(1)
            qg = F.normalize(g, dim=-1).unsqueeze(1)
            hs, gs = encode(enc_q, im_small)
            q = torch.cat((q, F.normalize(hs.view(b, -1, h.shape[1]), dim=-1)), dim=1)
            qg = torch.cat((qg, F.normalize(gs, dim=-1).view(b, -1, g.shape[1])), dim=1)
            with torch.no_grad():
                for pq, pk in zip(enc_q.parameters(), enc_k.parameters()):
                    pk.data = pk.data * m + pq.data * (1. - m)
                hk, gk = encode(enc_k, im_k)
                k, kg = F.normalize(hk, dim=1), F.normalize(gk, dim=-1)
            l_pos = (q * k.unsqueeze(1)).sum(2).view(-1, 1)
            l_neg = q.reshape(-1, h.shape[1]) @ queue.clone().detach()
            logits = torch.cat([l_pos, l_neg], dim=1) / tau
            l_neg_g = qg.reshape(-1, g.shape[1]) @ queue_g.clone().detach()
            knn = l_neg_g.topk(topk, dim=1)[1]
            mask = torch.zeros_like(l_neg).scatter(1, knn, 1)
            z = l_neg / tau
            z = z - z.max(dim=1, keepdim=True)[0].detach()
            log_prob = z - torch.log(torch.exp(z).sum(1, keepdim=True))
            aux = -((mask * log_prob).sum(1) / mask.sum(1)).mean()
            queue[:, ptr:ptr + b] = k.T
            queue_g[:, ptr:ptr + b] = kg.T
            ptr = (ptr + b) % queue.shape[1]
            loss = F.cross_entropy(logits, torch.zeros(logits.shape[0], dtype=torch.long))
            total = loss + lam * aux if use_aux else loss
            params = [p for p in enc_q.parameters()]
            grads = torch.autograd.grad(total, params)
            # torch SGD: d = g + wd p; buf = d (first step) or mu buf + d; p -= lr buf
            with torch.no_grad():
                for i, (p, gr) in enumerate(zip(params, grads)):
                    d = gr + wd * p
                    buf[i] = d.clone() if i not in buf else momentum * buf[i] + d
                    p -= lr * buf[i]
            states.append(dict(
                q={n: p.detach().clone() for n, p in enc_q.named_parameters()},
                k={n: p.detach().clone() for n, p in enc_k.named_parameters()},
                queue=queue.clone(), queue_g=queue_g.clone(), lr=lr, aux=use_aux))
    return states


def test_release_config_run_equals_the_released_loop_step_by_step(tmp_path):
    cfg = Config.fromfile(RELEASE)
    cfg.merge_from_dict(dict(model=TINY))
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.double()
    model.data_preprocessor = Float64Inputs()
    model0 = copy.deepcopy(model)
    queue0 = model.queue.queue.clone()
    gen = torch.Generator().manual_seed(3)  # the release's side-queue starts as random unit vectors
    queue_g0 = F.normalize(torch.randn(64, K, generator=gen, dtype=torch.float64), dim=0)

    loader = DataLoader(Views(), batch_size=B, shuffle=False, collate_fn=collate)
    record = Record()
    sched = [dict(s, T_max=EPOCHS, end=EPOCHS) for s in cfg.param_scheduler]
    runner = DenseRunner(
        model=model, work_dir=str(tmp_path), train_dataloader=loader,
        optim_wrapper=cfg.optim_wrapper, param_scheduler=sched,
        train_cfg=dict(by_epoch=True, max_epochs=EPOCHS),
        default_hooks=dict(cfg.default_hooks, checkpoint=None, logger=dict(
            type='LoggerHook', interval=100)),
        custom_hooks=[record], default_scope='densepre', log_level='WARNING',
        randomness=dict(seed=0), env_cfg=dict(dist_cfg=dict(backend='gloo')))
    runner.train()

    opt = cfg.optim_wrapper.optimizer
    ref = released_run(model0, loader, EPOCHS, opt.lr, opt.momentum, opt.weight_decay,
                       m=1 - cfg.model.momentum, tau=cfg.model.head.temperature, topk=TOPK,
                       lam=cfg.model.knn_weight, warmup=1, queue0=queue0, queue_g0=queue_g0)
    assert len(record.states) == len(ref) == EPOCHS * ITERS
    assert [r['aux'] for r in ref] == [False] * ITERS + [True] * (EPOCHS - 1) * ITERS
    assert record.knn == [float(r['aux']) for r in ref]  # the nn-loss switch
    assert record.lrs == [r['lr'] for r in ref] and len(set(record.lrs)) == EPOCHS
    for step, (got, want) in enumerate(zip(record.states, ref)):
        assert got['q'].keys() == want['q'].keys() and got['k'].keys() == want['k'].keys()
        for name, p in want['q'].items():
            torch.testing.assert_close(got['q'][name], p, **TOL, msg=f'step {step}: {name}')
        for name, p in want['k'].items():
            torch.testing.assert_close(got['k'][name], p, **TOL, msg=f'step {step}: k.{name}')
        torch.testing.assert_close(got['queue'], want['queue'], **TOL)
        if step >= K // B - 1:  # the release starts from random side-queue entries, densepre
            # from empty ones; both are fully overwritten after K / B steps
            torch.testing.assert_close(got['queue_g'], want['queue_g'], **TOL)
    # the parameters moved, the query and key encoders differ
    last = record.states[-1]
    assert all(not torch.equal(last['q'][n], model0.state_dict()[n]) for n in ref[-1]['q']
               if n.endswith('conv1.weight'))


def test_speed_tool_refuses_a_directory_without_the_release(tmp_path):
    """tools/analysis_tools/revisiting_release_speed.py times densepre against a checkout of the
    release (never part of densepre); without one it stops at once naming the directory."""
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        'revisiting_release_speed',
        osp.join(REPO, 'tools/analysis_tools/revisiting_release_speed.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    (tmp_path / 'builder').mkdir()
    with pytest.raises(FileNotFoundError,
                       match=f'{tmp_path}.*no builder/builder_ours_warmup.py'):
        tool.main(['--release-dir', str(tmp_path)])
