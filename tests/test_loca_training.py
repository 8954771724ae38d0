"""LOCA end to end: the model on real pipeline output, Runner steps through tools/train.py, exact
resume after a kill, configs build."""
import glob
import math
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import default_collate
from mmengine.logging import MessageHub

from utils import REPO, data_opts, derived_config, losses_by_iter, run_train

TINY = osp.join(REPO, 'tests/configs/loca_vit_tiny.py')


def load(path):
    return torch.load(path, map_location='cpu', weights_only=False)


def tiny_model_and_batch(demo_root, batch_size=4):
    from densepre.registry import DATASETS, MODELS
    cfg = Config.fromfile(TINY)
    cfg.train_dataloader.dataset.data_root = f'{demo_root}/imagenet/'
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    batch = default_collate([dataset[i] for i in range(batch_size)])
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    data = model.data_preprocessor(batch, training=True)
    return model, data['inputs'], data['data_samples']


def test_loca_model_on_pipeline_output(demo_root):
    """Reference through the EMA teacher (no gradient), queries through the student, targets
    from the tracker; the position logits depend on the reference."""
    MessageHub.get_current_instance().update_info('max_iters', 100)
    model, inputs, samples = tiny_model_and_batch(demo_root)
    assert [tuple(x.shape[2:]) for x in inputs] == [(32, 32), (32, 32), (16, 16), (16, 16)]
    assert samples[0].view_groups == ('reference', 'query', 'query', 'query')
    torch.manual_seed(1)
    losses = model.loss(inputs, samples)
    assert set(losses) == {'intersecting', 'loss_position', 'position_accuracy', 'loss_cluster',
                           'loss_memax'}
    total = sum(v for k, v in losses.items() if k.startswith('loss'))
    assert math.isfinite(total.item()) and 0 < float(losses['intersecting']) <= 1
    total.backward()
    teacher = list(model.teacher.parameters())
    assert teacher and all(p.grad is None and not p.requires_grad for p in teacher)
    assert model.backbone.pos_embed.grad is not None
    assert model.cluster_head.prototypes.grad is not None
    # first update copies the student; cosine schedule starts at tau = 0.996
    for (n, p), q in zip(model.backbone.named_parameters(),
                         model.teacher['backbone'].parameters()):
        torch.testing.assert_close(p, q, msg=n)
    assert model.teacher.momentum == 0.004 and model.teacher.end_momentum == 0.
    # the query looks at the (kept) reference tokens: another reference changes the loss
    torch.manual_seed(1)
    other = [inputs[0].flip(-1)] + list(inputs[1:])
    assert float(model.loss(other, samples)['loss_position']) != pytest.approx(
        float(losses['loss_position']), rel=1e-6)


def test_loca_runner_epoch_through_train_py(demo_root, tmp_path):
    run_train(TINY, tmp_path, *data_opts(demo_root), 'train_cfg.max_epochs=1')
    losses = losses_by_iter(tmp_path)
    assert len(losses) == 8 and all(math.isfinite(v) for v in losses.values())
    for key in ('loss_position', 'loss_cluster', 'loss_memax'):
        assert len(losses_by_iter(tmp_path, key)) == 8
    state = load(tmp_path / 'epoch_1.pth')['state_dict']
    assert any(k.startswith('teacher.module.backbone.') for k in state)
    assert any(k.startswith('teacher.module.cluster_head.') for k in state)
    assert not any('cls_token' in k for k in state)


@pytest.mark.slow
def test_loca_resume_after_kill_matches_uninterrupted_run(demo_root, tmp_path):
    """Kill in the middle of epoch 2, resume from epoch 1: the epoch-2 losses (random token
    dropping and reference masking included) and the final weights and EMA teacher are those of
    an uninterrupted run."""
    full, crashed = tmp_path / 'full', tmp_path / 'crashed'
    run_train(TINY, full, *data_opts(demo_root))
    crash_cfg = derived_config(tmp_path, TINY, "custom_imports = dict(imports=['crash_hooks'])\n"
                               "custom_hooks = [dict(type='FiniteLossHook'), "
                               "dict(type='KillAfterIterHook', at_iter=11)]", 'crash.py')
    proc = run_train(crash_cfg, crashed, *data_opts(demo_root), check=False)
    assert proc.returncode == -9
    assert (crashed / 'epoch_1.pth').exists() and not (crashed / 'epoch_2.pth').exists()
    run_train(TINY, crashed, *data_opts(demo_root), extra_args=['--resume'])
    ref, got = losses_by_iter(full), losses_by_iter(crashed)
    assert sorted(ref) == sorted(got) == list(range(1, 17))
    for it in range(9, 17):
        assert got[it] == pytest.approx(ref[it], rel=1e-5, abs=1e-6), it
    a, b = load(full / 'epoch_2.pth')['state_dict'], load(crashed / 'epoch_2.pth')['state_dict']
    assert a.keys() == b.keys() and any(k.startswith('teacher.') for k in a)
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-4, atol=1e-5, msg=k)


LOCA_CONFIGS = sorted(glob.glob(osp.join(REPO, 'configs/loca/**/*.py'), recursive=True))


@pytest.mark.parametrize('path', LOCA_CONFIGS, ids=lambda p: osp.relpath(p, REPO))
def test_loca_configs_build(path):
    """Every shipped LOCA config builds its model and its view pipeline (ViT-B/16 itself for the
    main config; the others with the encoder narrowed to 32 dims to spare the shared CPU)."""
    from densepre.datasets.transforms import GeoMultiView  # noqa: F401
    from densepre.registry import MODELS, TRANSFORMS
    from mmpretrain.models import VisionTransformer
    cfg = Config.fromfile(path)
    arch = VisionTransformer.arch_zoo[cfg.model.backbone.arch]
    assert arch['embed_dims'] in (384, 768, 1024, 1280)  # ViT-S/B/L/H
    pos, clu = cfg.model.get('position_head'), cfg.model.get('cluster_head')
    if pos is not None:  # the cross-attention block has the encoder's sizes
        assert (pos.embed_dims, pos.num_heads, pos.feedforward_channels) == (
            arch['embed_dims'], arch['num_heads'], arch['feedforward_channels'])
    assert clu is None or clu.in_channels == arch['embed_dims']
    if not path.endswith('loca/loca_vit-b16_16xb64_100e_in1k.py'):
        cfg.model.backbone.arch = dict(embed_dims=32, num_layers=1, num_heads=2,
                                       feedforward_channels=64)
        for head, key in (('position_head', 'embed_dims'), ('cluster_head', 'in_channels')):
            if cfg.model.get(head) is not None:
                cfg.model[head][key] = 32
        if cfg.model.get('position_head') is not None:
            cfg.model.position_head.update(num_heads=2, feedforward_channels=64)
    model = MODELS.build(cfg.model)
    views = [t for t in cfg.train_dataloader.dataset.pipeline if t['type'] == 'GeoMultiView'][0]
    view_transform = TRANSFORMS.build(views)
    if cfg.model.get('position_mode') == 'single':  # Fig. 4 'single': one view
        assert view_transform.view_groups == ['reference'] and cfg.model.cluster_head is None
    else:
        assert view_transform.view_groups[:2] == ['reference', 'query']
    assert model.position_head is None or model.position_head.num_positions == 196
    assert model.backbone.patch_resolution == (14, 14)
    del model


def test_visualize_loca_positions_tool(demo_root, tmp_path):
    """The Fig. 6 tool on a checkpoint in the Runner's format: one PNG per image with the query
    view and the reference carrying the true (blue) and predicted (red) locations."""
    import cv2
    import numpy as np

    import sys

    from densepre.registry import MODELS
    sys.path.insert(0, osp.join(REPO, 'tools', 'analysis_tools'))
    from visualize_loca_positions import main as visualize
    cfg = Config.fromfile(TINY)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    ckpt = tmp_path / 'epoch_1.pth'
    torch.save({'state_dict': model.state_dict(), 'meta': {'epoch': 1}}, ckpt)
    images = sorted(glob.glob(f'{demo_root}/imagenet/train/*/*'))[:2]
    written, hits, total = visualize([TINY, str(ckpt), *images, '--out-dir', str(tmp_path / 'vis'),
                                      '--seed', '3'])
    assert len(written) == 2 and total > 0 and 0 <= hits <= total
    img = cv2.imread(written[0])
    assert img.shape[0] == 448 and img.shape[1] > 2 * 448  # query | gap | reference, enlarged
    ref = img[:, -448:]
    assert ((ref == (255, 0, 0)).all(-1)).any() and ((ref == (0, 0, 255)).all(-1)).any()
    with pytest.raises(FileNotFoundError, match='checkpoint'):
        visualize([TINY, str(tmp_path / 'missing.pth'), *images])


def test_benchmark_loca_step_tool(tmp_path):
    """The speed tool runs every part on the tiny config and reports ratios to the student."""
    import json
    import sys
    sys.path.insert(0, osp.join(REPO, 'tools', 'analysis_tools'))
    from benchmark_loca_step import main as bench
    out = tmp_path / 'speed.json'
    res = bench([TINY, '--batch', '2', '--iters', '1', '--warmup', '0', '--threads', '1',
                 '--out', str(out)])
    assert set(res['ratio_to_student']) == {'student', 'loca_step', 'teacher', 'cross_attention',
                                            'cluster_heads', 'sinkhorn'}
    assert res['ratio_to_student']['student'] == 1.0
    assert res['views'] == ['reference:32', 'query:32', 'query:16', 'query:16']
    assert json.loads(out.read_text()) == res


SEG = osp.join(REPO, 'configs/benchmarks/mmsegmentation')
SEGMENTER_CONFIGS = [
    f'{SEG}/ade20k/segmenter-linear_vit-b16_8xb2-160k_ade20k-512x512.py',
    f'{SEG}/ade20k/segmenter-linear_vit-b16_8xb2-160k_ade20k-fewshot-512x512.py',
    f'{SEG}/pascal_context/segmenter-linear_vit-b16_8xb2-80k_pascal-context-512x512.py',
    f'{SEG}/voc12aug/segmenter-linear_vit-b16_8xb2-80k_voc12aug-512x512.py',
    f'{SEG}/cityscapes/segmenter-linear_vit-b16_8xb1-80k_cityscapes-768x768.py',
]


@pytest.fixture(scope='module')
def loca_vit_b_checkpoint(tmp_path_factory):
    """A LOCA ViT-B/16 training checkpoint (model built from the paper config, random init):
    student, EMA teacher, position and cluster heads."""
    from densepre.registry import MODELS
    model = MODELS.build(Config.fromfile(
        osp.join(REPO, 'configs/loca/loca_vit-b16_16xb64_100e_in1k.py')).model)
    model.init_weights()
    path = str(tmp_path_factory.mktemp('loca_ckpt') / 'loca_vit-b16.pth')
    torch.save({'state_dict': model.state_dict(), 'meta': {'epoch': 100}}, path)
    return path


@pytest.mark.slow
@pytest.mark.parametrize('path', SEGMENTER_CONFIGS, ids=lambda p: osp.relpath(p, REPO))
def test_segmenter_configs_load_a_loca_checkpoint_completely(path, loca_vit_b_checkpoint,
                                                             tmp_path):
    """Every backbone tensor of the Segmenter-linear benchmarks comes from the LOCA checkpoint
    (no class token; the 14x14 position embedding resized at run time)."""
    from densepre.transfer.downstream import verify

    from utils import staged
    cfg, pretrained = staged(path, loca_vit_b_checkpoint, tmp_path)
    assert len(pretrained) == 149 and not any('cls_token' in k for k in pretrained)
    assert verify(cfg, pretrained) == ['backbone: 149 tensors loaded from the checkpoint']


def test_demo_segmenter_config_loads_the_loca_demo_checkpoint(tmp_path):
    from densepre.registry import MODELS
    from densepre.transfer.downstream import verify

    from utils import staged
    model = MODELS.build(Config.fromfile(
        osp.join(REPO, 'configs/demo/loca_vit-tiny-p8_1xb32-64px-40e_demo.py')).model)
    model.init_weights()
    ckpt = str(tmp_path / 'loca_demo.pth')
    torch.save({'state_dict': model.state_dict(), 'meta': {'epoch': 40}}, ckpt)
    seg = 'configs/demo/loca-segmenter-linear_vit-tiny-p8_1xb8-300it_demo-voc-64x64.py'
    cfg, pretrained = staged(osp.join(REPO, seg), ckpt, tmp_path)
    assert verify(cfg, pretrained) == ['backbone: 29 tensors loaded from the checkpoint']


def test_central_patch_position_targets(demo_root):
    """Table 5 'central patch': only the query patch at (h//2, w//2) keeps its position target;
    the cluster loss is unchanged."""
    MessageHub.get_current_instance().update_info('max_iters', 100)
    model, inputs, samples = tiny_model_and_batch(demo_root)
    targets = torch.arange(16).repeat(3, 1)  # 3 queries of 4x4 patches
    keep = torch.tensor([[0, 5, 10, 15], [9, 10, 11, 12], [1, 2, 3, 4]])
    model.position_targets = 'central'  # 4x4 grid: central patch (2, 2) = 10
    got = model._position_targets(targets.gather(1, keep), keep, (4, 4))
    assert got.tolist() == [[-1, -1, 10, -1], [-1, 10, -1, -1], [-1, -1, -1, -1]]
    got = model._position_targets(targets, None, (4, 4))
    assert (got >= 0).sum() == 3 and (got[:, 10] == 10).all()
    torch.manual_seed(1)
    central = model.loss(inputs, samples)
    model.position_targets = 'all'
    torch.manual_seed(1)
    full = model.loss(inputs, samples)
    torch.testing.assert_close(central['loss_cluster'], full['loss_cluster'])
    assert float(central['loss_position']) != pytest.approx(float(full['loss_position']))
    with pytest.raises(ValueError, match='position_targets'):
        from densepre.registry import MODELS
        cfg = Config.fromfile(TINY)
        cfg.model.position_targets = 'box'
        MODELS.build(cfg.model)


@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float16])
def test_loca_loss_under_autocast(demo_root, dtype):
    """CPU stand-in for AMP: the heads run in low precision, while the teacher targets (softmax
    of cosines / 0.05: exp(20) overflows fp16), Sinkhorn and the losses are computed in fp32."""
    MessageHub.get_current_instance().update_info('max_iters', 100)
    model, inputs, samples = tiny_model_and_batch(demo_root)
    with torch.autocast('cpu', dtype=dtype):
        losses = model.loss(inputs, samples)
        targets = model.cluster_head.targets(torch.ones(2, 5, 32, dtype=dtype))
    assert targets.dtype == torch.float32 and torch.isfinite(targets).all()
    for k, v in losses.items():
        assert v.dtype == torch.float32 and torch.isfinite(v), k
    sum(v for k, v in losses.items() if k.startswith('loss')).backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_loca_bf16_step_matches_fp32(demo_root):
    """CPU stand-in for GPU AMP: one LOCA step (same weights, views, token dropping and reference
    masking) under bf16 autocast gives every loss term within 3 % (+1e-3) of fp32 — the teacher
    softmax, Sinkhorn, the log-softmaxes and the CE run in fp32 inside autocast; the rest is the
    bf16 encoder's rounding (measured over 6 batches: at most 1.1 % relative, loss_cluster).
    The gradients keep their direction."""
    import copy
    import random

    import numpy as np
    MessageHub.get_current_instance().update_info('max_iters', 100)
    random.seed(0)  # the views' crops (the batch is drawn before the model's seed)
    np.random.seed(0)
    torch.manual_seed(0)
    model, inputs, samples = tiny_model_and_batch(demo_root, batch_size=8)
    torch.manual_seed(1)
    ref = model.loss(inputs, samples)
    low = copy.deepcopy(model)  # the teacher was copied from the student: same state
    torch.manual_seed(1)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        got = low.loss(inputs, samples)
    assert set(got) == set(ref)
    for k in ref:
        assert got[k].dtype == torch.float32, k
    for k in ('loss_position', 'loss_cluster', 'loss_memax'):  # (accuracy: argmax ties flip)
        assert float(got[k]) == pytest.approx(float(ref[k]), rel=3e-2, abs=1e-3), k
    assert float(got['intersecting']) == float(ref['intersecting'])  # same tracker targets
    sum(v for k, v in ref.items() if k.startswith('loss')).backward()
    sum(v for k, v in got.items() if k.startswith('loss')).backward()
    for (n, p), q in zip(model.named_parameters(), low.parameters()):
        if p.grad is not None and p.grad.norm() > 0:
            cos = torch.nn.functional.cosine_similarity(p.grad.flatten(), q.grad.flatten(), 0)
            assert cos > 0.95, (n, float(cos))


def test_query_box_in_reference_and_giou_by_hand():
    """Table 5 box regression: the target box (query in normalised reference coordinates,
    clipped to the reference) and the L1 + GIoU loss on hand-built boxes."""
    from densepre.models.heads.loca_position_head import (LOCAPositionHead,
                                                          generalized_box_iou)
    from densepre.models.utils.patch_tracker import query_box_in_reference

    def geom(x1, y1, x2, y2, flip=0):
        return [x1, y1, x2, y2, flip, 32, 32, 0]
    ref = torch.tensor([geom(0, 0, 100, 100), geom(0, 0, 100, 100, flip=1),
                        geom(0, 0, 100, 100), geom(20, 40, 60, 80)])
    query = torch.tensor([geom(50, 25, 150, 75), geom(50, 25, 150, 75, flip=1),
                          geom(200, 0, 300, 50), geom(30, 50, 40, 60)])
    boxes, valid = query_box_in_reference(query, ref)
    torch.testing.assert_close(boxes, torch.tensor([
        [0.5, 0.25, 1.0, 0.75],     # right part clipped to the reference
        [0.0, 0.25, 0.5, 0.75],     # reference flipped: mirrored (the query's flip is irrelevant)
        [1.0, 0.0, 1.0, 0.5],       # outside: empty after clipping
        [0.25, 0.25, 0.5, 0.5]]))   # inside a smaller reference
    assert valid.tolist() == [True, True, False, True]

    a = torch.tensor([[0., 0., 2., 2.], [0., 0., 1., 1.]])
    b = torch.tensor([[1., 1., 3., 3.], [2., 0., 3., 1.]])
    iou, giou = generalized_box_iou(a, b)
    # overlap 1, union 7, hull 9: GIoU = 1/7 - 2/9; disjoint: IoU 0, hull 3, union 2 -> -1/3
    torch.testing.assert_close(iou, torch.tensor([1 / 7, 0.]))
    torch.testing.assert_close(giou, torch.tensor([1 / 7 - 2 / 9, -1 / 3]))

    head = LOCAPositionHead(8, 2, 16, num_positions=16, output='box')
    target = torch.tensor([[0.5, 0.25, 1.0, 0.75], [0., 0., 0.5, 0.5]])
    exact = torch.tensor([[0.75, 0.5, 0.5, 0.5], [0.25, 0.25, 0.5, 0.5]])  # cx, cy, w, h
    out = head.loss_box(exact, target, torch.tensor([True, True]))
    assert float(out['loss_box_l1']) == 0 and float(out['loss_box_giou']) == pytest.approx(0)
    assert float(out['box_iou']) == pytest.approx(1)
    shifted = exact + torch.tensor([0.1, 0., 0., 0.])  # second box masked out
    out = head.loss_box(shifted, target, torch.tensor([True, False]))
    # box 1 moved right by 0.1: L1 = 0.1; IoU = 0.4*0.5 / (0.25+0.25-0.2) = 2/3, hull 0.3 = union
    assert float(out['loss_box_l1']) == pytest.approx(5 * 0.1)
    assert float(out['loss_box_giou']) == pytest.approx(2 * (1 - 2 / 3), rel=1e-5)
    assert head(torch.randn(3, 5, 8), torch.randn(3, 4, 8)).shape == (3, 4)
    with pytest.raises(ValueError, match='output'):
        LOCAPositionHead(8, 2, 16, num_positions=16, output='boxes')


def test_loca_box_regression_variant(demo_root):
    """The box-regression position head inside LOCA: loss terms and gradient, the target from
    the recorded geometry of every query; 'central' targets refuse the box head."""
    from densepre.registry import MODELS
    MessageHub.get_current_instance().update_info('max_iters', 100)
    cfg = Config.fromfile(TINY)
    cfg.model.position_head.output = 'box'
    model, inputs, samples = tiny_model_and_batch(demo_root)
    torch.manual_seed(0)
    box_model = MODELS.build(cfg.model)
    box_model.init_weights()
    losses = box_model.loss(inputs, samples)
    assert {'loss_box_l1', 'loss_box_giou', 'box_iou', 'loss_cluster'} <= set(losses)
    assert 'loss_position' not in losses and 0 <= float(losses['box_iou']) <= 1
    sum(v for k, v in losses.items() if k.startswith('loss')).backward()
    assert box_model.position_head.classifier.weight.grad.abs().sum() > 0
    assert box_model.backbone.pos_embed.grad is not None
    cfg.model.position_targets = 'central'
    with pytest.raises(ValueError, match='central'):
        MODELS.build(cfg.model)


def test_image_level_clustering_gap(demo_root):
    """Table 6b 'Image (GAP)': the cluster loss equals Eq. 1 computed by hand on pooled tokens —
    one Sinkhorn target per image from the averaged teacher reference tokens, each query's
    averaged tokens predicting its image's target; the position loss is the patch-level one."""
    import torch.nn.functional as F
    MessageHub.get_current_instance().update_info('max_iters', 100)
    model, inputs, samples = tiny_model_and_batch(demo_root)
    for m in model.modules():  # no stochastic depth: the teacher pass can be redone by hand
        if hasattr(m, 'drop_prob'):
            m.drop_prob = 0.
    torch.manual_seed(1)
    patch = model.loss(inputs, samples)
    model.cluster_level = 'image_gap'
    head = model.cluster_head
    calls = []
    forward = model.backbone.forward_tokens

    def recording(x, num_keep=None):
        out = forward(x, num_keep)
        calls.append(out[0])
        return out
    model.backbone.forward_tokens = recording
    torch.manual_seed(1)
    image = model.loss(inputs, samples)
    del model.backbone.forward_tokens
    torch.testing.assert_close(image['loss_position'], patch['loss_position'])
    # by hand (the teacher, a copy of the student after the first update, is unchanged)
    with torch.no_grad():
        ref_tokens = model.teacher['backbone'].forward_tokens(inputs[0])[0]
        target = head.targets(model.teacher['cluster_head'](ref_tokens.mean(1)))  # (B, K)
    batch = inputs[0].shape[0]
    logits = torch.cat([head(t.mean(1)) for t in calls])
    tgt = torch.cat([target.repeat(t.shape[0] // batch, 1) for t in calls])
    log_p = F.log_softmax(logits / head.student_temperature, -1)
    want = -(tgt * log_p).sum(-1).mean()
    torch.testing.assert_close(image['loss_cluster'], want, rtol=1e-4, atol=1e-5)
    assert float(image['loss_cluster']) != pytest.approx(float(patch['loss_cluster']))
    with pytest.raises(ValueError, match='cluster_level'):
        from densepre.registry import MODELS
        cfg = Config.fromfile(TINY)
        cfg.model.cluster_level = 'image_cls'
        MODELS.build(cfg.model)


def test_vit_key_mask_matches_mmpretrain_layer_and_hides_masked_tokens():
    """Fig. 4 'single' masking: with every key visible the masked layer is mmpretrain's layer
    exactly; with a mask, changing a masked token changes no other token's output."""
    from densepre.models.backbones import LOCAViT
    torch.manual_seed(0)
    vit = LOCAViT(arch=dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64),
                  img_size=32, patch_size=8, drop_path_rate=0.)
    vit.init_weights()  # (the position embedding starts at zero)
    vit.eval()  # (mmpretrain's ViT.train() returns None)
    x = torch.randn(2, 3, 32, 32)
    full = vit.forward_tokens(x)[0]
    every = torch.ones(2, 16, dtype=torch.bool)
    torch.testing.assert_close(vit.forward_tokens(x, key_mask=every)[0], full,
                               rtol=1e-5, atol=1e-5)
    assert not torch.allclose(vit.forward_tokens(x, use_pos_embed=False)[0], full)
    mask = torch.zeros(2, 16, dtype=torch.bool)
    mask[:, 4:8] = True
    a = vit.forward_tokens(x, key_mask=mask)[0]
    y = x.clone()
    y[:, :, :8, :8] = torch.randn(2, 3, 8, 8)  # patch 0, masked (not a key)
    b = vit.forward_tokens(y, key_mask=mask)[0]
    torch.testing.assert_close(a[:, 1:], b[:, 1:])
    assert not torch.allclose(a[:, 0], b[:, 0])
    z = x.clone()
    z[:, :, 8:16, :8] = torch.randn(2, 3, 8, 8)  # patch 4, a key: everyone sees it
    assert not torch.allclose(vit.forward_tokens(z, key_mask=mask)[0][:, 1], a[:, 1])


def test_single_view_position_loss(demo_root):
    """Fig. 4 'single' through LOCA: the position loss is the CE of each reference patch to its
    own index, computed here by hand from the backbone (no position embedding, keys limited to
    the unmasked run); the config-level options are checked."""
    import torch.nn.functional as F

    from densepre.registry import MODELS
    MessageHub.get_current_instance().update_info('max_iters', 100)
    cfg = Config.fromfile(TINY)
    cfg.model.update(position_mode='single', cluster_head=None)
    _, inputs, samples = tiny_model_and_batch(demo_root)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    for m in model.modules():
        if hasattr(m, 'drop_prob'):
            m.drop_prob = 0.
    torch.manual_seed(3)
    losses = model.loss(inputs, samples)
    assert set(losses) == {'loss_position', 'position_accuracy'}
    torch.manual_seed(3)  # the same visible run
    from densepre.models.utils.masking import num_visible, visible_token_indices
    ref = inputs[0]
    vis = visible_token_indices(ref.shape[0], 16, num_visible(16, 0.8), 'structured')
    key_mask = torch.zeros(ref.shape[0], 16, dtype=torch.bool).scatter_(1, vis, True)
    tokens = model.backbone.forward_tokens(ref, use_pos_embed=False, key_mask=key_mask)[0]
    logits = model.position_head(tokens, tokens[:, :0])
    want = F.cross_entropy(logits.flatten(0, 1), torch.arange(16).repeat(ref.shape[0]))
    torch.testing.assert_close(losses['loss_position'], want)
    losses['loss_position'].backward()
    assert model.backbone.patch_embed.projection.weight.grad is not None
    assert model.backbone.pos_embed.grad is None  # no position embedding in this mode
    model.reference_mask_ratio = 1.
    with pytest.raises(ValueError, match='eta = 1'):
        model.loss(inputs, samples)
    for bad in (dict(position_mode='single'), dict(position_mode='pair')):
        c = Config.fromfile(TINY)
        c.model.update(bad)
        with pytest.raises(ValueError, match='position_mode|single'):
            MODELS.build(c.model)
