"""Issue 19: every checkpoint tensor accounted for (both directions), the backbone the paper reports
(LOCA: its teacher), release import flags, DeiT-III fidelity, PreciseBN under gradient
accumulation and the MoCo / detectron2 detection optimiser settings."""
import argparse
import os.path as osp
import subprocess
from types import SimpleNamespace

import pytest
import torch
from mmengine.config import Config

from densepre.transfer import IncompleteLoadingError, extract_backbone
from densepre.transfer.downstream import verify
from utils import PYTHON, REPO, staged

VOC_FCN = osp.join(REPO, 'configs/benchmarks/mmsegmentation/voc12aug/'
                   'fcn_r50-d8_4xb4-20k_voc12aug-512x512.py')
SEGMENTER = osp.join(REPO, 'configs/benchmarks/mmsegmentation/ade20k/'
                     'segmenter-linear_vit-b16_8xb2-160k_ade20k-512x512.py')
IMPORT_TOOL = osp.join(REPO, 'tools/model_converters/import_checkpoint.py')
TINY_VIT = dict(_delete_=True, embed_dims=64, num_layers=2, num_heads=2, feedforward_channels=256)


def with_extra(r50_checkpoint, tmp_path, extra, name='extra.pth'):
    state = torch.load(r50_checkpoint, weights_only=False)['state_dict']
    state.update(extra)
    path = str(tmp_path / name)
    torch.save({'state_dict': state}, path)
    return path


# ----------------------------------------------------------------------------- both directions
def test_unused_checkpoint_tensors_are_refused_naming_them(r50_checkpoint, tmp_path):
    """A classifier head and a stray layer5 under backbone. used to be dropped silently while the
    log said "complete loading verified"."""
    path = with_extra(r50_checkpoint, tmp_path, {
        'backbone.fc.weight': torch.randn(10, 2048), 'backbone.fc.bias': torch.randn(10),
        'backbone.layer5.0.conv1.weight': torch.randn(4, 4, 1, 1)})
    cfg, pretrained = staged(VOC_FCN, path, tmp_path)
    with pytest.raises(IncompleteLoadingError, match='3 checkpoint tensor') as err:
        verify(cfg, pretrained)
    for name in ('fc.weight', 'fc.bias', 'layer5.0.conv1.weight', '--ignore-keys'):
        assert name in str(err.value)
    with pytest.raises(IncompleteLoadingError, match=r'layer5\.0\.conv1\.weight'):
        verify(cfg, pretrained, ignore_keys=['fc.*'])
    report = verify(cfg, pretrained, ignore_keys=['fc.*', 'backbone.layer5.*'])
    assert report[-1].startswith('ignored by request (fc.*, backbone.layer5.*): 3 checkpoint')
    # the config equivalent
    cfg.pretrained_ignore_keys = ['fc.*', 'layer5.*']
    assert 'ignored by request' in verify(cfg, pretrained)[-1]


def test_c4_detector_uses_res5_from_the_shared_head(r50_checkpoint, tmp_path):
    """Two parts read the same prefix: layer4 is used by roi_head.shared_head, not unused."""
    cfg, pretrained = staged(osp.join(REPO, 'configs/benchmarks/mmdetection/voc0712/'
                                      'faster-rcnn_r50-c4_ms-24k_voc0712.py'),
                             r50_checkpoint, tmp_path)
    assert len(verify(cfg, pretrained)) == 2


def test_layer_scale_and_class_token_are_not_dropped_silently(tmp_path):
    from densepre.registry import MODELS
    vit = MODELS.build(dict(type='VisionTransformer', arch=dict(TINY_VIT), img_size=64,
                            patch_size=16, with_cls_token=True, layer_scale_init_value=0.1,
                            out_type='featmap'))
    path = str(tmp_path / 'vit.pth')
    torch.save({'state_dict': {'backbone.' + k: v for k, v in vit.state_dict().items()}}, path)
    over = {'model.backbone.img_size': 64, 'model.backbone.arch': dict(TINY_VIT),
            'model.decode_head.in_channels': 64, 'model.decode_head.channels': 64}
    cfg, pretrained = staged(SEGMENTER, path, tmp_path, **over,
                             **{'model.backbone.with_cls_token': True})
    with pytest.raises(IncompleteLoadingError, match=r'layers\.0\.attn\.gamma1\.weight'):
        verify(cfg, pretrained)  # the model has no LayerScale: it would compute another network
    cfg, pretrained = staged(SEGMENTER, path, tmp_path, **over,
                             **{'model.backbone.layer_scale_init_value': 0.1})
    with pytest.raises(IncompleteLoadingError, match='cls_token'):
        verify(cfg, pretrained)


def test_frozen_backbone_refuses_unused_tensors_and_removes_later_stages(tmp_path):
    from densepre.evaluation import load_frozen_backbone
    from densepre.registry import MODELS
    model = MODELS.build(dict(type='ResNet', depth=18))
    state = {'backbone.' + k: v for k, v in model.state_dict().items()}
    state['backbone.fc.weight'] = torch.randn(10, 512)
    path = str(tmp_path / 'r18.pth')
    torch.save({'state_dict': state}, path)
    lines = []
    with pytest.raises(IncompleteLoadingError, match=r'fc\.weight'):
        load_frozen_backbone(path, log=lines.append)
    backbone = load_frozen_backbone(path, strides=(1, 2, 1), dilations=(1, 1, 1), out_stage=3,
                                    log=lines.append, ignore_keys=['fc.*'])
    assert backbone.stride == 8 and not hasattr(backbone.model, 'layer4')
    assert any('layer4 not used' in line for line in lines), lines


def test_finetune_and_frozen_tools_take_ignore_keys():
    import davis_propagation
    import finetune
    import segment_retrieval
    args = finetune.parse_args(['cfg.py', 'ckpt.pth', '--ignore-keys', 'fc.*', 'layer5.*'])
    assert args.ignore_keys == ['fc.*', 'layer5.*'] and args.teacher is None
    assert davis_propagation.parse_args(['c.pth', '--ignore-keys', 'fc.*']).ignore_keys == ['fc.*']
    assert segment_retrieval.parse_args(['c.pth', '--student']).teacher is False


# ----------------------------------------------------------------------------- which weights
def loca_checkpoint(tmp_path, meta_cfg=True):
    """A LOCA checkpoint as MMEngine writes it (meta.cfg = the config text), teacher != student."""
    from mmengine.registry import DefaultScope

    from densepre.registry import MODELS
    cfg = Config.fromfile(osp.join(REPO, 'tests/configs/loca_vit_tiny.py'))
    with DefaultScope.overwrite_default_scope('densepre'):
        model = MODELS.build(cfg.model)
    model.init_weights()
    with torch.no_grad():
        for p in model.backbone.parameters():
            p.add_(1.0)
    path = str(tmp_path / 'loca.pth')
    torch.save({'state_dict': model.state_dict(),
                'meta': {'cfg': cfg.pretty_text} if meta_cfg else {}}, path)
    return path, model


def test_loca_checkpoint_transfers_its_teacher_by_default(tmp_path):
    path, model = loca_checkpoint(tmp_path)
    lines = []
    state = extract_backbone(path, log=lines.append)
    teacher = model.teacher['backbone'].state_dict()
    assert all(torch.equal(v, teacher[k[len('backbone.'):]]) for k, v in state.items())
    assert 'backbone weights: teacher' in lines[0] and 'LOCA' in lines[0]
    assert '--student' in lines[0]
    lines.clear()
    state = extract_backbone(path, teacher=False, log=lines.append)  # --student
    assert torch.equal(state['backbone.pos_embed'], model.backbone.pos_embed)
    assert 'online (student) -- --student given' in lines[0]
    # the extracted file records its choice and is itself "online" (re-extraction is stable)
    extract_backbone(path, str(tmp_path / 'bb.pth'), log=lines.append)
    meta = torch.load(tmp_path / 'bb.pth', weights_only=True)['meta']
    assert meta['weights'] == 'teacher' and meta['reported_weights'] == 'online'


def test_checkpoint_meta_names_the_reported_weights(tmp_path):
    from densepre.transfer.checkpoint import reported_weights
    path, model = loca_checkpoint(tmp_path, meta_cfg=False)
    state = torch.load(path, weights_only=False)
    lines = []
    extract_backbone(path, log=lines.append)  # no record: the online backbone, said so
    assert 'online' in lines[0] and 'does not record' in lines[0]
    state['meta'] = {'reported_weights': 'teacher'}
    torch.save(state, path)
    assert reported_weights(state['meta'])[0] == 'teacher'
    got = extract_backbone(path, log=lines.append)
    assert torch.equal(got['backbone.pos_embed'], model.teacher['backbone'].pos_embed)
    with pytest.raises(ValueError, match='reported_weights'):
        reported_weights({'reported_weights': 'ema'})


def test_runner_writes_the_reported_weights_into_checkpoint_meta(tmp_path, monkeypatch):
    """DenseRunner.save_checkpoint: what `tools/train.py` checkpoints carry in their meta."""
    from mmengine.runner import Runner

    from densepre.engine.runner import DenseRunner
    from densepre.models.algorithms.loca import LOCA
    from densepre.models.algorithms.mocov2 import MoCoV2
    from densepre.transfer.checkpoint import reported_weights_of_model
    assert reported_weights_of_model(LOCA) == 'teacher'
    assert reported_weights_of_model(MoCoV2) == 'online'
    saved = {}

    def fake_save(self, out_dir, filename, *args, meta=None, **kwargs):
        saved.update(meta)
        raise OSError(28, 'stop here')

    monkeypatch.setattr(Runner, 'save_checkpoint', fake_save)
    runner = DenseRunner.__new__(DenseRunner)
    runner.model = LOCA.__new__(LOCA)  # the class attribute is what is read
    runner.cfg = None  # (no config: no resume settings to record)
    with pytest.raises(OSError):
        runner.save_checkpoint(str(tmp_path), 'x.pth')
    assert saved['reported_weights'] == 'teacher'


def test_ade20k_linear_usage_names_the_weights():
    proc = subprocess.run(['bash', osp.join(REPO, 'tools/benchmarks/ade20k_linear.sh')],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert 'EMA teacher' in proc.stderr and '--student' in proc.stderr
    assert '--ignore-keys' in proc.stderr


# ----------------------------------------------------------------------------- import
def run_import(*args):
    return subprocess.run([PYTHON, IMPORT_TOOL, *args], capture_output=True, text=True,
                          env={'PYTHONPATH': REPO, 'OMP_NUM_THREADS': '1'})


def test_import_trust_checkpoint_flag(tmp_path):
    """CLoVE / PixPro / DeiT releases pickle an argparse namespace: refused unless trusted."""
    import torchvision
    tv = {k: v for k, v in torchvision.models.resnet18().state_dict().items()
          if not k.startswith('fc.')}
    torch.save({'model': {'module.encoder.' + k: v for k, v in tv.items()},
                'opt': argparse.Namespace(arch='resnet18')}, tmp_path / 'clove.pth')
    proc = run_import('--from', 'clove', str(tmp_path / 'clove.pth'), str(tmp_path / 'a.pth'))
    assert proc.returncode == 1 and '--trust-checkpoint' in proc.stderr
    assert not (tmp_path / 'a.pth').exists()
    proc = run_import('--from', 'clove', '--trust-checkpoint', str(tmp_path / 'clove.pth'),
                      str(tmp_path / 'a.pth'))
    assert proc.returncode == 0, proc.stderr
    out = torch.load(tmp_path / 'a.pth', weights_only=True)['state_dict']
    assert torch.equal(out['backbone.layer4.1.conv2.weight'], tv['layer4.1.conv2.weight'])


def test_moco_format_matches_whole_key_components():
    """`module.queue` explains module.queue, not the kNN variant's module.queue_backbone."""
    from densepre.transfer.importers import UnknownKeysError, from_moco, from_revisiting
    bb = {'module.encoder_q.conv1.weight': torch.randn(2)}
    state = dict(bb, **{'module.queue': torch.randn(2), 'module.queue_ptr': torch.zeros(1),
                        'module.queue_backbone': torch.randn(2)})
    with pytest.raises(UnknownKeysError, match='module.queue_backbone'):
        from_moco(state)
    assert list(from_revisiting(state)) == ['backbone.conv1.weight']
    assert list(from_moco({k: v for k, v in state.items() if k != 'module.queue_backbone'})) \
        == ['backbone.conv1.weight']


# ----------------------------------------------------------------------------- DeiT-III
def timm_deit3_state(dim=64, depth=2, grid=4, patch=16):
    """facebookresearch/deit models_v2 / timm deit3 names: no class-token slot in pos_embed,
    LayerScale ls1 / ls2."""
    g = torch.Generator().manual_seed(3)
    r = lambda *s: torch.randn(*s, generator=g) * 0.2  # noqa: E731
    state = {'cls_token': r(1, 1, dim), 'pos_embed': r(1, grid * grid, dim),
             'patch_embed.proj.weight': r(dim, 3, patch, patch), 'patch_embed.proj.bias': r(dim),
             'norm.weight': 1 + r(dim), 'norm.bias': r(dim),
             'head.weight': r(10, dim), 'head.bias': r(10)}
    for i in range(depth):
        b = f'blocks.{i}.'
        state.update({b + 'norm1.weight': 1 + r(dim), b + 'norm1.bias': r(dim),
                      b + 'attn.qkv.weight': r(3 * dim, dim), b + 'attn.qkv.bias': r(3 * dim),
                      b + 'attn.proj.weight': r(dim, dim), b + 'attn.proj.bias': r(dim),
                      b + 'ls1.gamma': r(dim), b + 'norm2.weight': 1 + r(dim),
                      b + 'norm2.bias': r(dim), b + 'mlp.fc1.weight': r(4 * dim, dim),
                      b + 'mlp.fc1.bias': r(4 * dim), b + 'mlp.fc2.weight': r(dim, 4 * dim),
                      b + 'mlp.fc2.bias': r(dim), b + 'ls2.gamma': r(dim)})
    return state


def timm_deit3_forward(state, x, heads, depth, patch=16):
    """Our transcription of timm's VisionTransformer(no_embed_class=True, init_values=...) forward
    (DeiT-III), in float64: patches + pos, then the class token prepended; pre-norm blocks with
    LayerScale; final norm. Returns the patch tokens (B, N, C)."""
    s = {k: v.double() for k, v in state.items()}
    x = torch.nn.functional.conv2d(x.double(), s['patch_embed.proj.weight'],
                                   s['patch_embed.proj.bias'], stride=patch)
    x = x.flatten(2).transpose(1, 2) + s['pos_embed']
    x = torch.cat([s['cls_token'].expand(len(x), -1, -1), x], dim=1)
    b_, n, c = x.shape
    ln = lambda t, p: torch.nn.functional.layer_norm(t, (c, ), s[p + '.weight'],  # noqa: E731
                                                     s[p + '.bias'], eps=1e-6)
    for i in range(depth):
        p = f'blocks.{i}.'
        h = ln(x, p + 'norm1')
        qkv = (h @ s[p + 'attn.qkv.weight'].T + s[p + 'attn.qkv.bias']).reshape(
            b_, n, 3, heads, c // heads).permute(2, 0, 3, 1, 4)
        attn = (qkv[0] @ qkv[1].transpose(-2, -1) * (c // heads) ** -0.5).softmax(-1)
        h = (attn @ qkv[2]).transpose(1, 2).reshape(b_, n, c)
        x = x + s[p + 'ls1.gamma'] * (h @ s[p + 'attn.proj.weight'].T + s[p + 'attn.proj.bias'])
        h = ln(x, p + 'norm2') @ s[p + 'mlp.fc1.weight'].T + s[p + 'mlp.fc1.bias']
        h = torch.nn.functional.gelu(h) @ s[p + 'mlp.fc2.weight'].T + s[p + 'mlp.fc2.bias']
        x = x + s[p + 'ls2.gamma'] * h
    return ln(x, 'norm')[:, 1:]


def test_deit3_import_computes_what_timm_computes(tmp_path):
    """--from deit3 -> mmpretrain VisionTransformer (zero class-token position slot, LayerScale):
    the frozen backbone's patch tokens equal the timm transcription's."""
    from densepre.evaluation import load_frozen_backbone
    state = timm_deit3_state()
    torch.save({'model': state}, tmp_path / 'deit3.pth')
    proc = run_import('--from', 'timm', str(tmp_path / 'deit3.pth'), str(tmp_path / 'bad.pth'))
    assert proc.returncode == 1 and '--from deit3' in proc.stderr
    proc = run_import('--from', 'deit3', str(tmp_path / 'deit3.pth'), str(tmp_path / 'd3.pth'))
    assert proc.returncode == 0, proc.stderr
    backbone = load_frozen_backbone(str(tmp_path / 'd3.pth'), num_heads=2, log=lambda m: None)
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    got = backbone.model.double()(x.double())[-1]  # (B, C, 4, 4)
    want = timm_deit3_forward(state, x, heads=2, depth=2)
    torch.testing.assert_close(got.flatten(2).transpose(1, 2), want, rtol=1e-9, atol=1e-9)
    # and it loads completely into the Segmenter config with a class token and LayerScale
    cfg, pretrained = staged(SEGMENTER, str(tmp_path / 'd3.pth'), tmp_path, **{
        'model.backbone.with_cls_token': True, 'model.backbone.img_size': 64,
        'model.backbone.layer_scale_init_value': 1e-5, 'model.backbone.arch': dict(TINY_VIT),
        'model.decode_head.in_channels': 64, 'model.decode_head.channels': 64})
    assert verify(cfg, pretrained) == ['backbone: 34 tensors loaded from the checkpoint']


# ----------------------------------------------------------------------------- PreciseBN
def test_precise_bn_sees_the_papers_number_of_images_under_accumulation(monkeypatch):
    """8 accumulation steps of micro-batches of 2 (paper batch 16 on one GPU): 200 x 8 batches
    of 2 = 3200 images = 200 paper batches; the interval counts optimizer steps."""
    from densepre.transfer.precise_bn import PreciseBNHook
    hook = PreciseBNHook(num_iters=200, interval=3)
    drawn, calls = [], []
    monkeypatch.setattr(PreciseBNHook, '_batches',
                        lambda self, runner, n: drawn.append(n) or (2, iter(())))
    model = torch.nn.Sequential(torch.nn.BatchNorm1d(3))
    runner = SimpleNamespace(model=model, optim_wrapper=SimpleNamespace(_accumulative_counts=8),
                             iter=0, max_iters=10 ** 6)
    hook.recompute(runner)
    assert drawn == [200 * 8]
    monkeypatch.setattr(PreciseBNHook, 'recompute', lambda self, r: calls.append(r.iter + 1))
    for it in range(60):
        runner.iter = it
        hook.after_train_iter(runner, it)
    assert calls == [24, 48]  # every 3 optimizer steps = 24 micro-batches


def test_effective_batch_line_states_the_bn_batch():
    from densepre.transfer.effective_batch import describe, keep_paper_batch
    cfg = Config.fromfile(osp.join(REPO, 'configs/benchmarks/mmdetection/voc0712/'
                                   'faster-rcnn_r50-c4_ms-24k_voc0712.py'))
    text = describe(keep_paper_batch(cfg, 1))
    assert 'effective batch 16 = 2 per GPU x 1 GPU(s) x 8 accumulation' in text
    assert 'BN batch 2 image(s) per GPU' in text


# ----------------------------------------------------------------------------- detection configs
@pytest.mark.parametrize('path,warmup', [
    ('voc0712/faster-rcnn_r50-c4_ms-24k_voc0712.py', 100),
    ('coco/mask-rcnn_r50-c4_ms-1x_coco.py', 1000),
    ('coco/mask-rcnn_r50_fpn_ms-1x_coco.py', 1000),
    ('coco/mask-rcnn_r50_fpn_ms-2x_coco.py', 1000)])
def test_detection_configs_follow_detectron2(path, warmup):
    """WEIGHT_DECAY_NORM 0 and WARMUP_ITERS (1000; the VOC yaml: 100), as MoCo's yamls."""
    cfg = Config.fromfile(osp.join(REPO, 'configs/benchmarks/mmdetection', path))
    assert cfg.optim_wrapper.paramwise_cfg.norm_decay_mult == 0
    assert cfg.optim_wrapper.optimizer.weight_decay == 1e-4
    linear = [s for s in cfg.param_scheduler if s.type == 'LinearLR']
    assert len(linear) == 1 and linear[0].end == warmup and not linear[0].by_epoch
    assert linear[0].start_factor == 0.001


def test_norm_parameters_get_no_weight_decay():
    """Through MMEngine's optimizer constructor: BN weights / biases at wd 0, convs at 1e-4."""
    from mmengine.optim import build_optim_wrapper
    cfg = Config.fromfile(osp.join(REPO, 'configs/benchmarks/mmdetection/coco/'
                                   'mask-rcnn_r50_fpn_ms-1x_coco.py'))
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
    wrapper = build_optim_wrapper(model, dict(cfg.optim_wrapper))
    decay = {tuple(g['params'][0].shape): g['weight_decay']
             for g in wrapper.optimizer.param_groups}
    assert decay[(4, 3, 3, 3)] == 1e-4 and decay[(4, )] == 0


def test_vit_s16_configs_load_a_deit_small_checkpoint(tmp_path):
    """ViT-S/16 = mmpretrain arch 'deit-small' (384 dims) with a 384-channel decoder."""
    from densepre.registry import MODELS
    vit = MODELS.build(dict(type='VisionTransformer', arch='deit-small', img_size=224,
                            patch_size=16, out_type='featmap', with_cls_token=False))
    path = str(tmp_path / 'vit_s.pth')
    torch.save({'state_dict': {'backbone.' + k: v for k, v in vit.state_dict().items()}}, path)
    cfg, pretrained = staged(SEGMENTER.replace('vit-b16', 'vit-s16'), path, tmp_path)
    assert cfg.model.decode_head.in_channels == 384
    assert verify(cfg, pretrained) == [f'backbone: {len(pretrained)} tensors loaded from the '
                                       'checkpoint']
    proc = subprocess.run(['bash', osp.join(REPO, 'tools/benchmarks/ade20k_linear.sh'), path,
                           '--arch', 'vit-l16'], capture_output=True, text=True)
    assert proc.returncode == 2 and 'vit-b16 or vit-s16' in proc.stderr


def test_extract_backbone_tool_follows_the_checkpoint(tmp_path):
    import extract_backbone as cli
    path, model = loca_checkpoint(tmp_path)
    cli.main([path, str(tmp_path / 'default.pth')])
    cli.main([path, str(tmp_path / 'student.pth'), '--student'])
    default = torch.load(tmp_path / 'default.pth', weights_only=True)['state_dict']
    student = torch.load(tmp_path / 'student.pth', weights_only=True)['state_dict']
    assert torch.equal(default['backbone.pos_embed'], model.teacher['backbone'].pos_embed)
    assert torch.equal(student['backbone.pos_embed'], model.backbone.pos_embed)


def test_mmpretrain_deit3_class_does_not_compute_deit3():
    """Why --from deit3 targets VisionTransformer: mmpretrain 1.2.0's DeiT3 backbone, given the
    same tensors (all keys match), normalises the FFN input with ln1 instead of ln2."""
    from densepre.registry import MODELS
    from densepre.transfer.importers import from_deit3
    state = timm_deit3_state()
    d3 = MODELS.build(dict(type='mmpretrain.DeiT3', arch={k: v for k, v in TINY_VIT.items() if k != '_delete_'},
                           img_size=64, patch_size=16, out_type='featmap'))
    ours = {k[len('backbone.'):]: v for k, v in from_deit3(state).items()}
    ours['pos_embed'] = state['pos_embed']  # DeiT3 keeps DeiT-III's slot-less embedding
    d3.load_state_dict(ours, strict=True)
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    d3.eval()
    with torch.no_grad():
        got = d3.double()(x.double())[-1].flatten(2).transpose(1, 2)
    assert (got - timm_deit3_forward(state, x, heads=2, depth=2)).abs().max() > 1e-2
