"""Revisiting-Contrastive (configs/revisiting): the Table 4 config chain, small crops kept away
from the key encoder and the queue, constrained crops, kNN-MoCo against brute force, the nn-loss
warm-up through the Runner."""
import glob
import os.path as osp
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmcv.transforms import Compose
from mmengine.config import Config
from mmengine.logging import MessageHub
from mmpretrain.structures import DataSample

from densepre.datasets.geometry import fraction_inside
from densepre.models.utils.correspondence import FLAG_FALLBACK, has_flag, stack_geometries
from densepre.registry import MODELS
from utils import REPO, logged_scalars, run_train

CFG = osp.join(REPO, 'configs/revisiting')
TABLE4 = [
    'mocov2_r50_8xb32-coco_200e.py',
    'mocov2-mc_r50_8xb32-coco_200e.py',
    'mocov2-mc-cc_r50_8xb32-coco_200e.py',
    'mocov2-mc-cc-m0995_r50_8xb32-coco_200e.py',
    'mocov2-mc-cc-m0995-aplus_r50_8xb32-coco_200e.py',
    'knn-mocov2-mc-cc-m0995-aplus_r50_8xb32-coco_200e.py',
]
BEST_800E = 'knn-mocov2-mc-cc-m0995-aplus_r50_8xb32-coco_800e.py'
TINY_KNN = osp.join(REPO, 'tests/configs/knn-mocov2_r18_tiny.py')
MC_GROUPS = ('query', 'key', 'local', 'local', 'local', 'local')
MC_SIZES = (32, 32, 16, 16, 16, 16)
# the shipped R50 models scaled down to run on CPU in a test
SMALL = dict(queue_len=64, feat_dim=32, backbone=dict(depth=18),
             neck=dict(in_channels=512, hid_channels=64, out_channels=32))


@pytest.fixture(autouse=True)
def _runtime_info():
    hub = MessageHub.get_current_instance()
    hub.update_info('max_iters', 100)
    hub.update_info('epoch', 0)


def load(name):
    return Config.fromfile(osp.join(CFG, name))


def views_of(cfg):
    return cfg.train_dataloader.dataset.pipeline[1]['views']


def build(name, **model):
    cfg = load(name)
    cfg.merge_from_dict(dict(model=dict(SMALL, **model)))
    torch.manual_seed(0)
    m = MODELS.build(cfg.model)
    m.init_weights()
    return m.train()


def batch(groups=MC_GROUPS, sizes=MC_SIZES, n=4, seed=1, dtype=torch.float32):
    gen = torch.Generator().manual_seed(seed)
    inputs = [torch.randn(n, 3, s, s, generator=gen, dtype=dtype) for s in sizes]
    samples = []
    for _ in range(n):
        ds = DataSample()
        ds.set_field(tuple(groups), 'view_groups')
        samples.append(ds)
    return inputs, samples


# ---------------------------------------------------------------------------- Table 4 chain
def test_table4_configs_inherit_step_by_step():
    for prev, name in zip(TABLE4, TABLE4[1:] + [BEST_800E]):
        with open(osp.join(CFG, name)) as f:
            base = re.search(r"^_base_ = \[?'\./([^']+)'", f.read(), re.M)
        assert base and base.group(1) == prev, name
    base = load(TABLE4[0])
    assert base.train_dataloader.dataset.type == 'CocoImages'
    assert base.train_dataloader.dataset.ann_file == 'annotations/instances_train2017.json'
    assert base.optim_wrapper.optimizer.lr == 0.3 and base.auto_scale_lr.base_batch_size == 256
    assert base.optim_wrapper.optimizer.weight_decay == 1e-4
    assert base.train_dataloader.batch_size * 8 == 256
    assert base.param_scheduler[0].type == 'CosineAnnealingLR' and base.train_cfg.max_epochs == 200
    assert base.model.momentum == pytest.approx(0.001) and base.model.head.temperature == 0.2
    assert base.model.queue_len == 65536

    mc = load(TABLE4[1])
    v = views_of(mc)
    assert [(g['name'], g['num']) for g in v] == [('query', 1), ('key', 1), ('local', 4)]
    assert [g['transforms'][0]['scale'] for g in v] == [160, 160, 96]
    assert [g['transforms'][0]['crop_ratio_range'] for g in v] == [(0.2, 1.), (0.2, 1.),
                                                                   (0.05, 0.14)]
    assert mc.model.view_pairs == dict(keys=['key'], queries=['query', 'local'])

    cc = load(TABLE4[2])
    local = views_of(cc)[2]
    assert local['overlap_with'] == 1 and local['transforms'][0]['min_overlap'] == 0.2
    assert local['transforms'][0]['overlap_tries'] == 10
    assert views_of(load('mocov2-mc-cc10_r50_8xb32-coco_200e.py'))[2]['transforms'][0][
        'min_overlap'] == 0.1

    assert load(TABLE4[3]).model.momentum == pytest.approx(0.005)

    ap = views_of(load(TABLE4[4]))
    types = [[t['type'] for t in g['transforms']] for g in ap]
    assert types[0] == types[2] == ['GeoRandomResizedCrop', 'APlusAugment', 'RandomFlip']
    assert 'APlusAugment' not in types[1]  # the key keeps the MoCo v2 augmentations
    assert ap[0]['transforms'][1]['prob'] == 0.5 and ap[0]['transforms'][1]['policies'] == \
        'imagenet'

    knn = load(TABLE4[5]).model
    assert (knn.type, knn.knn_k, knn.knn_weight, knn.warmup_epochs, knn.backbone_dim) == \
        ('KNNMoCo', 20, 0.4, 5, 2048)
    best = load(BEST_800E)
    assert best.model.warmup_epochs == 20 and best.train_cfg.max_epochs == 800
    assert best.param_scheduler[0].T_max == 800


@pytest.mark.parametrize('name', [TABLE4[1], TABLE4[5]])
def test_small_crops_never_reach_key_encoder_nor_queue(name):
    """On the module built from the shipped config: the key encoder sees the key view only, and
    the queue (and kNN-MoCo's backbone side-queue) receives exactly its keys."""
    model = build(name, **({'backbone_dim': 512} if 'knn' in name else {}))
    seen = []
    model.encoder_k['backbone'].register_forward_pre_hook(
        lambda mod, args: seen.append(tuple(args[0].shape)))
    inputs, samples = batch()
    model.loss(inputs, samples)
    assert seen == [(4, 3, 32, 32)]
    key = inputs[1]
    with torch.no_grad():
        feats = model.encoder_k['backbone'](key)
        k = F.normalize(model.encoder_k['neck'](feats)[0], dim=1)
    assert int(model.queue.ptr) == int(model.queue.filled) == 4
    torch.testing.assert_close(model.queue.queue[:, :4].t(), k)
    if 'knn' in name:
        g = F.normalize(feats[-1].mean((2, 3)), dim=1)
        torch.testing.assert_close(model.queue.side('backbone')[:, :4].t(), g)
        assert model.queue.side('backbone')[:, 4:].abs().sum() == 0


def _pipeline(name, **crop):
    views = views_of(load(name))
    for g in views:
        g['transforms'] = [t for t in g['transforms'] if t['type'] in
                           ('GeoRandomResizedCrop', 'RandomFlip')]
        g['transforms'][0].update(crop)
    return Compose([dict(type='GeoMultiView', views=views),
                    dict(type='PackInputs', algorithm_keys=['view_geometry', 'view_groups'])])


def _overlaps(pipeline, n=150, seed=0):
    np.random.seed(seed)
    img = np.random.randint(0, 255, (120, 200, 3), np.uint8)
    geoms = [pipeline(dict(img=img, img_shape=img.shape[:2], ori_shape=img.shape[:2]))
             ['data_samples'] for _ in range(n)]
    geom = stack_geometries(geoms).double().numpy()  # (n, 6, 8)
    frac = np.stack([fraction_inside(geom[i, 2:, :4], geom[i, 1, :4]) for i in range(n)])
    return frac, has_flag(torch.as_tensor(geom[:, 2:]), FLAG_FALLBACK).numpy()


# the released code's CC rule (>= 10 %) as a variant of each constrained step: variant -> paper
CC10 = {
    'mocov2-mc-cc10_r50_8xb32-coco_200e.py': TABLE4[2],
    'mocov2-mc-cc10-m0995-aplus_r50_8xb32-coco_200e.py': TABLE4[4],
    'knn-mocov2-mc-cc10-m0995-aplus_r50_8xb32-coco_200e.py': TABLE4[5],
    'knn-mocov2-mc-cc10-m0995-aplus_r50_8xb32-coco_800e.py': BEST_800E,
}


@pytest.mark.parametrize('name', sorted(CC10))
def test_cc10_variants_change_only_the_overlap_rule(name):
    """Each 10 % variant inherits its paper config (`_base_`) and differs from it only in the
    small crops' min_overlap (0.1 instead of 0.2); its model and pipeline build."""
    paper = CC10[name]
    with open(osp.join(CFG, name)) as f:
        assert re.search(r"^_base_ = '\./([^']+)'", f.read(), re.M).group(1) == paper
    cfg, ref = load(name), load(paper)
    local = views_of(cfg)[2]
    assert local['overlap_with'] == 1 and local['transforms'][0]['min_overlap'] == 0.1
    assert local['transforms'][0]['overlap_tries'] == 10
    assert views_of(ref)[2]['transforms'][0]['min_overlap'] == 0.2
    local['transforms'][0]['min_overlap'] = 0.2
    for key in ('model', 'train_dataloader', 'optim_wrapper', 'param_scheduler', 'train_cfg'):
        assert cfg[key] == ref[key], key
    pipeline = Compose(load(name).train_dataloader.dataset.pipeline[1:])
    img = np.random.RandomState(0).randint(0, 255, (120, 200, 3), np.uint8)
    out = pipeline(dict(img=img, img_shape=img.shape[:2], ori_shape=img.shape[:2]))
    assert [tuple(x.shape) for x in out['inputs']] == [(3, 160, 160)] * 2 + [(3, 96, 96)] * 4
    assert build(name, **({'backbone_dim': 512} if 'knn' in name else {})).queue_len == 64


@pytest.mark.parametrize('name,rule', [(TABLE4[2], 0.2), *[(n, 0.1) for n in sorted(CC10)]])
def test_constrained_crops_meet_their_rule_except_counted_fallbacks(name, rule):
    """The shipped CC pipelines (crop geometry only): a small crop either has >= rule of its area
    inside the key crop, or is flagged as a fallback; one try shows fallbacks do occur and are
    flagged, and the unconstrained MC pipeline breaks the rule (so the check can fail)."""
    frac, fallback = _overlaps(_pipeline(name))
    assert ((frac >= rule) == (fallback == 0)).all()
    assert (frac >= rule).mean() > 0.95
    frac1, fallback1 = _overlaps(_pipeline(name, overlap_tries=1))
    assert ((frac1 >= rule) == (fallback1 == 0)).all() and fallback1.sum() > 0
    frac_mc, fallback_mc = _overlaps(_pipeline(TABLE4[1]))
    assert (frac_mc < rule).any() and fallback_mc.sum() == 0


# ---------------------------------------------------------------------------- kNN-MoCo
def test_knn_positives_are_the_topk_of_the_side_queue():
    model = build(TABLE4[5], backbone_dim=512, knn_k=20)
    gen = torch.Generator().manual_seed(3)
    for _ in range(3):  # 48 of 64 entries filled: only filled entries may be neighbours
        model.queue.enqueue(F.normalize(torch.randn(16, 32, generator=gen), dim=1),
                            backbone=F.normalize(torch.randn(16, 512, generator=gen), dim=1))
    g = F.normalize(torch.randn(10, 512, generator=gen), dim=1)
    idx = model.neighbours(g)
    bank = model.queue.side('backbone').double()
    for i in range(10):
        sims = [(float(g[i].double() @ bank[:, j]), j) for j in range(48)]
        expected = [j for _, j in sorted(sims, reverse=True)[:20]]
        assert idx[i].tolist() == expected


def test_knn_moco_loss_matches_brute_force():
    """L = L_inst + λ L_nn with every term recomputed by hand (float64, loops over positives)."""
    model = build(TABLE4[5], backbone_dim=512, knn_k=5, knn_weight=0.4, warmup_epochs=0)
    model.double()
    gen = torch.Generator().manual_seed(5)
    for _ in range(3):
        model.queue.enqueue(
            F.normalize(torch.randn(16, 32, generator=gen, dtype=torch.float64), dim=1),
            backbone=F.normalize(torch.randn(16, 512, generator=gen, dtype=torch.float64), dim=1))
    queue, side = model.queue.queue.clone(), model.queue.side('backbone').clone()
    inputs, samples = batch(dtype=torch.float64)
    out = model.loss(inputs, samples)
    assert out['knn_active'] == 1

    with torch.no_grad():
        k = F.normalize(model.encoder_k['neck'](model.encoder_k['backbone'](inputs[1]))[0], dim=1)
        large = model.backbone(inputs[0])
        small = model.backbone(torch.cat(inputs[2:]))
        q = [F.normalize(model.neck(large)[0], dim=1)] + list(
            F.normalize(model.neck(small)[0], dim=1).split(4))
        g = [F.normalize(large[-1].mean((2, 3)), dim=1)] + list(
            F.normalize(small[-1].mean((2, 3)), dim=1).split(4))
    tau, inst, nn, count = 0.2, 0.0, 0.0, 0
    for qv, gv in zip(q, g):
        for n in range(4):
            logits = torch.cat([(qv[n] @ k[n]).view(1), qv[n] @ queue]) / tau
            inst += -torch.log_softmax(logits, 0)[0] / 20
            sims = gv[n] @ side[:, :48]
            top = sorted(range(48), key=lambda j: -float(sims[j]))[:5]
            logp = torch.log_softmax(qv[n] @ queue / tau, 0)
            nn += -sum(logp[j] for j in top) / 5
            count += 1
    nn = nn / count
    torch.testing.assert_close(out['inst_ce'], inst)
    torch.testing.assert_close(out['knn_ce'], nn)
    torch.testing.assert_close(out['loss'], inst + 0.4 * nn)


def _released_knn_moco_losses(enc_q, enc_k, queue, queue_g, im_q, im_k, im_q_small, topk, tau):
    """Hand transcription of the authors' kNN-MoCo step (Revisiting-Contrastive-SSL,
    builder/builder_ours_warmup.py ``MoCo.forward`` + ``pull_topk``, main_ours_warmup.py's
    ``CrossEntropyLoss``), written against ``enc(x) -> (head output, GAP backbone feature)`` (their
    avgpool hook). Small crops arrive image-major, (b, 4) flattened, as in their loader.
    Returns (instance CE, aux loss)."""
    b = im_q.shape[0]
    h, g = enc_q(im_q)
    q = F.normalize(h, dim=-1).unsqueeze(1)
    qg = F.normalize(g, dim=-1).unsqueeze(1)
    hs, gs = enc_q(im_q_small)
    q = torch.cat((q, F.normalize(hs.view(b, -1, h.shape[1]), dim=-1)), dim=1)
    qg = torch.cat((qg, F.normalize(gs, dim=-1).view(b, -1, g.shape[1])), dim=1)
    with torch.no_grad():
        hk, gk = enc_k(im_k)
        k = F.normalize(hk, dim=1)
    l_pos = (q * k.unsqueeze(1)).sum(2).view(-1, 1)
    l_neg = q.reshape(-1, h.shape[1]) @ queue.clone()
    logits = torch.cat([l_pos, l_neg], dim=1) / tau
    inst = F.cross_entropy(logits, torch.zeros(logits.shape[0], dtype=torch.long))
    l_neg_g = qg.reshape(-1, g.shape[1]) @ queue_g.clone()
    mask = torch.zeros_like(l_neg).scatter(1, l_neg_g.topk(topk, dim=1)[1], 1)
    z = l_neg / tau
    z = z - z.max(dim=1, keepdim=True)[0].detach()
    log_prob = z - torch.log(torch.exp(z).sum(1, keepdim=True))
    aux = -((mask * log_prob).sum(1) / mask.sum(1)).mean()
    return inst, aux


def test_knn_moco_loss_equals_the_released_code_on_identical_weights_and_inputs():
    """Same weights, queues (full: the released side-queue has no empty columns) and crops:
    densepre's L_inst, L_nn and L equal the transcribed released step (float64)."""
    model = build(TABLE4[5], backbone_dim=512, knn_k=5, knn_weight=0.4, warmup_epochs=0)
    model.double()
    gen = torch.Generator().manual_seed(7)
    for _ in range(4):  # 64 of 64 columns filled
        model.queue.enqueue(
            F.normalize(torch.randn(16, 32, generator=gen, dtype=torch.float64), dim=1),
            backbone=F.normalize(torch.randn(16, 512, generator=gen, dtype=torch.float64), dim=1))
    queue, queue_g = model.queue.queue.clone(), model.queue.side('backbone').clone()
    inputs, samples = batch(dtype=torch.float64)
    out = model.loss(inputs, samples)  # updates the key encoder first, as the released forward

    def encoder(backbone, neck):
        def run(x):
            feats = backbone(x)
            return neck(feats)[0], feats[-1].mean((2, 3))
        return run

    im_small = torch.stack(inputs[2:], dim=1).flatten(0, 1)  # (b, 4, ...) -> (b*4, ...)
    inst, aux = _released_knn_moco_losses(
        encoder(model.backbone, model.neck),
        encoder(model.encoder_k['backbone'], model.encoder_k['neck']), queue, queue_g,
        inputs[0], inputs[1], im_small, topk=5, tau=0.2)
    torch.testing.assert_close(out['inst_ce'], inst.detach())
    torch.testing.assert_close(out['knn_ce'], aux.detach())
    torch.testing.assert_close(out['loss'].detach(), (inst + 0.4 * aux).detach())
    assert float(aux.detach()) > 0 and not torch.isclose(aux.detach(), inst.detach())


def test_knn_moco_off_during_warmup_and_until_k_entries():
    model = build(TABLE4[5], backbone_dim=512, knn_k=6, warmup_epochs=2)
    hub = MessageHub.get_current_instance()
    inputs, samples = batch()
    for epoch, expect in [(0, 0.), (1, 0.), (2, 1.)]:
        hub.update_info('epoch', epoch)
        out = model.loss(inputs, samples)
        assert float(out['knn_active']) == expect
        if expect:
            assert out['loss'] > out['inst_ce'] and out['knn_ce'] > 0
        else:
            assert out['loss'] == out['inst_ce'] and out['knn_ce'] == 0
    # warm-up over but fewer than k = 6 entries in the side-queue (0, then 4): still off
    fresh = build(TABLE4[5], backbone_dim=512, knn_k=6, warmup_epochs=0)
    assert [float(fresh.loss(inputs, samples)['knn_active']) for _ in range(3)] == [0, 0, 1]


def test_knn_moco_refuses_bad_settings():
    with pytest.raises(ValueError, match='view_pairs'):
        build(TABLE4[5], backbone_dim=512, view_pairs=None)
    with pytest.raises(ValueError, match='queue_len'):
        build(TABLE4[5], backbone_dim=512, knn_k=100)
    model = build(TABLE4[5])  # backbone_dim 2048 for a ResNet-18
    MessageHub.get_current_instance().update_info('epoch', 10)
    with pytest.raises(ValueError, match='backbone_dim=2048'):
        model.loss(*batch())


def test_nn_loss_off_before_warmup_on_after_through_the_runner(demo_root, tmp_path):
    """tools/train.py on the shipped +kNN config scaled down (COCO demo images, CC, A+):
    epoch 1 trains L_inst only, epoch 2 L_inst + λ L_nn (per-iteration logged values)."""
    run_train(TINY_KNN, tmp_path / 'work',
              f'train_dataloader.dataset.data_root={demo_root}/coco/', 'log_processor.window_size=1')
    recs = [r for r in logged_scalars(tmp_path / 'work') if 'knn_active' in r]
    assert [r['epoch'] for r in recs] == [1, 1, 2, 2]
    for r in recs:
        if r['epoch'] == 1:
            assert r['knn_active'] == 0 and r['knn_ce'] == 0
            assert r['loss'] == pytest.approx(r['inst_ce'], rel=1e-6)
        else:
            assert r['knn_active'] == 1 and r['knn_ce'] > 0
            assert r['loss'] == pytest.approx(r['inst_ce'] + 0.4 * r['knn_ce'], rel=1e-5)
    ckpt = torch.load(tmp_path / 'work' / 'epoch_2.pth', map_location='cpu', weights_only=False)
    sd = ckpt['state_dict']
    assert int(sd['queue.filled']) == 16 and sd['queue.side_backbone'].shape == (512, 16)


# ---------------------------------------------------------------------------- Tables 2-3, 7, 8
def test_table7_and_table8_configs_change_one_thing():
    base = load('ablations/knn-mocov2-mc-cc-m0995_r50_8xb32-coco_200e.py')
    sec41 = load(TABLE4[3])
    assert base.model.type == 'KNNMoCo' and base.model.momentum == pytest.approx(0.005)
    assert base.train_dataloader.dataset.pipeline == sec41.train_dataloader.dataset.pipeline
    sweep = {(1, 0.4), (5, 0.4), (10, 0.4), (40, 0.4), (50, 0.4), (20, 0.1), (20, 0.2),
             (20, 0.8)}
    found = set()
    for path in sorted(glob.glob(osp.join(CFG, 'ablations', 'knn-*-k*_*.py')) +
                       sorted(glob.glob(osp.join(CFG, 'ablations', 'knn-*-lambda*_*.py')))):
        cfg = Config.fromfile(path)
        found.add((cfg.model.knn_k, cfg.model.knn_weight))
        rest = {k: v for k, v in cfg.model.items() if k not in ('knn_k', 'knn_weight')}
        assert rest == {k: v for k, v in base.model.items() if k not in ('knn_k', 'knn_weight')}
        assert cfg.train_dataloader == base.train_dataloader
    assert found == sweep
    auto = views_of(load('ablations/mocov2-mc-cc-m0995-autoaug_r50_8xb32-coco_200e.py'))
    aplus = views_of(load(TABLE4[4]))
    assert auto[0]['transforms'][1]['prob'] == 1.0 and aplus[0]['transforms'][1]['prob'] == 0.5
    auto[0]['transforms'][1]['prob'] = auto[2]['transforms'][1]['prob'] = 0.5
    assert auto == aplus


def test_dataset_bias_configs():
    expected = {'coco': ('CocoImages', 'annotations/instances_train2017.json'),
                'in118k': ('ImageList', 'meta/in118k.txt'),
                'in118klt': ('ImageList', 'meta/in118k_lt.txt'),
                'oi118k': ('ImageList', 'meta/oi118k.txt'),
                'bdd100k': ('ImageList', 'meta/bdd100k_train.txt')}
    for data, (kind, ann) in expected.items():
        cfg = load(f'dataset_bias/mocov2_r50_8xb32-{data}_400e.py')
        assert (cfg.train_dataloader.dataset.type, cfg.train_dataloader.dataset.ann_file) == \
            (kind, ann)
        assert cfg.train_cfg.max_epochs == 400 and cfg.param_scheduler[0].T_max == 400
        assert cfg.optim_wrapper.optimizer.lr == 0.3 and cfg.model.momentum == 0.001
        assert cfg.model.get('view_pairs') is None  # two-crop MoCo v2


def test_benchmark_knn_step_vs_multicrop_step_same_crops():
    """The speed benchmark of the README on tiny configs: MoCo-MC (A) vs kNN-MoCo (B, nn loss on
    once the side-queue holds k = 4 features, i.e. in the timed steps) with the same crops and
    queue length, ratio in one run."""
    import sys
    sys.path.insert(0, osp.join(REPO, 'tools', 'analysis_tools'))
    import benchmark_train_step as bts
    mc = osp.join(REPO, 'tests/configs/mocov2-mc_r18_tiny.py')
    out = bts.main([mc, '--cfg-options', 'model.queue_len=16', '--vs', TINY_KNN,
                    '--vs-cfg-options', 'model.warmup_epochs=0', '--batch', '2', '--iters', '2',
                    '--warmup', '2', '--mem', 'none'])
    a, b = out['results']
    assert a['input_shapes'] == b['input_shapes'] == [[2, 3, 32, 32]] * 2 + [[2, 3, 16, 16]] * 4
    assert out['ratio_b_over_a'] > 0


def test_knn_moco_under_cpu_autocast_matches_fp32():
    """AMP stand-in: the same step under CPU bf16 autocast gives finite losses close to fp32 and
    enqueues fp32 features (the queue keeps its dtype)."""
    ref = build(TABLE4[5], backbone_dim=512, knn_k=4, warmup_epochs=0)
    amp = build(TABLE4[5], backbone_dim=512, knn_k=4, warmup_epochs=0)
    inputs, samples = batch()
    for _ in range(2):  # second step: side-queue holds 4 features, nn loss on
        out = ref.loss(inputs, samples)
        with torch.autocast('cpu', dtype=torch.bfloat16):
            out_amp = amp.loss(inputs, samples)
    assert float(out_amp['knn_active']) == 1
    assert amp.queue.queue.dtype == amp.queue.side('backbone').dtype == torch.float32
    for key in ('inst_ce', 'knn_ce'):
        assert torch.isfinite(out_amp[key])
        assert float(out_amp[key]) == pytest.approx(float(out[key]), rel=0.05), key


@pytest.mark.slow
def test_knn_moco_two_gloo_processes(demo_root, tmp_path):
    """NCCL stand-in: the tiny kNN-MoCo config on 2 gloo processes (tools/dist_train.sh, batch 2
    per rank): keys and backbone features of both ranks enter the aligned queues, the nn loss
    switches on in epoch 2."""
    import os
    import socket
    import subprocess
    from utils import PYTHON
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    env = dict(os.environ, PORT=str(port), PYTHON=PYTHON, OMP_NUM_THREADS='1', PYTHONPATH=REPO)
    work = tmp_path / 'ddp'
    proc = subprocess.run(
        ['bash', osp.join(REPO, 'tools/dist_train.sh'), TINY_KNN, '2', '--work-dir', str(work),
         '--cfg-options', f'train_dataloader.dataset.data_root={demo_root}/coco/',
         'train_dataloader.batch_size=2', 'log_processor.window_size=1'],
        capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    recs = [r for r in logged_scalars(work) if 'knn_active' in r]
    assert [r['knn_active'] for r in recs] == [0, 0, 1, 1]
    for r in recs[2:]:
        assert r['loss'] == pytest.approx(r['inst_ce'] + 0.4 * r['knn_ce'], rel=1e-5)
    sd = torch.load(work / 'epoch_2.pth', map_location='cpu', weights_only=False)['state_dict']
    assert int(sd['queue.filled']) == 16 and int(sd['queue.ptr']) == 0
    assert (sd['queue.side_backbone'].norm(dim=0) - 1).abs().max() < 1e-4  # every column written
