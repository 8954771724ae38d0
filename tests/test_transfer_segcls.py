"""Segmentation (Revisiting FCN, Segmenter-linear ViT-B/16) and classification (IN-1K linear,
semi-supervised, frozen-feature probe) transfer benchmarks: complete loading, protocol values,
few-shot splits, demo data, bad input, and CPU end-to-end runs (slow)."""
import copy
import glob
import json
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
import torch
from mmengine.config import Config

from densepre.registry import MODELS
from densepre.transfer import IncompleteLoadingError, extract_backbone
from densepre.transfer.downstream import inject_pretrained, register_scope, verify
from utils import PYTHON, REPO, TINY, data_opts, run_train, staged

sys.path.insert(0, osp.join(REPO, 'tools', 'benchmarks'))
import feature_probe  # noqa: E402
import make_fewshot_split as fewshot  # noqa: E402

SEG = osp.join(REPO, 'configs/benchmarks/mmsegmentation')
CLS = osp.join(REPO, 'configs/benchmarks/classification')
DEMO = osp.join(REPO, 'configs/demo')

REV_VOC = f'{SEG}/voc12aug/fcn-revisiting_r50-d16_4xb4-45e_voc12aug-513x513.py'
REV_CITY = f'{SEG}/cityscapes/fcn-revisiting_r50-d16_4xb4-150e_cityscapes-768x768.py'
SEGM_ADE = f'{SEG}/ade20k/segmenter-linear_vit-b16_8xb2-160k_ade20k-512x512.py'
SEGM_FEWSHOT = f'{SEG}/ade20k/segmenter-linear_vit-b16_8xb2-160k_ade20k-fewshot-512x512.py'
SEGM_PCONTEXT = f'{SEG}/pascal_context/segmenter-linear_vit-b16_8xb2-80k_pascal-context-512x512.py'
SEGM_VOC = f'{SEG}/voc12aug/segmenter-linear_vit-b16_8xb2-80k_voc12aug-512x512.py'
SEGM_CITY = f'{SEG}/cityscapes/segmenter-linear_vit-b16_8xb1-80k_cityscapes-768x768.py'
SWEEP = {lr: f'{SEG}/ade20k/lr_sweep/segmenter-linear_vit-b16_8xb2-160k_ade20k-512x512_lr{lr}.py'
         for lr in ('8e-5', '1e-4', '3e-4', '8e-4')}
SEGMENTER_DATASETS = [SEGM_ADE, SEGM_PCONTEXT, SEGM_VOC, SEGM_CITY]
SWEEPS = {base: {lr: osp.join(osp.dirname(base), 'lr_sweep',
                              osp.basename(base)[:-3] + f'_lr{lr}.py') for lr in SWEEP}
          for base in SEGMENTER_DATASETS}
ADAMW = {base: base[:-3] + '_adamw.py' for base in SEGMENTER_DATASETS + [SEGM_FEWSHOT]}
LIN_M = f'{CLS}/imagenet/resnet50_linear-8xb512-lars-coslr-90e_in1k.py'
LIN_B = f'{CLS}/imagenet/resnet50_linear-8xb32-steplr-50e_in1k.py'
LIN_MOCO = f'{CLS}/imagenet/resnet50_linear-8xb32-steplr-100e_in1k.py'
SEMI = {1: f'{CLS}/imagenet_1percent/resnet50_semi-8xb32-steplr-50e_in1k-1pct.py',
        10: f'{CLS}/imagenet_10percent/resnet50_semi-8xb32-steplr-50e_in1k-10pct.py'}
DEMO_LIN = f'{DEMO}/resnet18_linear-1xb8-steplr-2e_demo-in1k-64px.py'
DEMO_CITY = f'{DEMO}/fcn-revisiting_r18-d16_1xb4-2e_demo-cityscapes-64x64.py'
DEMO_ADE = f'{DEMO}/segmenter-linear_vit-mini_1xb4-4it_demo-ade20k-64x64.py'

RESNET50_CONFIGS = [REV_VOC, REV_CITY, LIN_M, LIN_B, LIN_MOCO, SEMI[1], SEMI[10]]
VIT_B_CONFIGS = [SEGM_ADE, SEGM_FEWSHOT, SEGM_PCONTEXT, SEGM_VOC, SEGM_CITY, *SWEEP.values()]
RESNET18_DEMO_CONFIGS = [DEMO_LIN, DEMO_CITY]
VIT_S_CONFIGS = [p.replace('_vit-b16_', '_vit-s16_') for p in
                 SEGMENTER_DATASETS + [SEGM_FEWSHOT] + list(ADAMW.values())]
MINI_VIT = dict(embed_dims=64, num_layers=2, num_heads=2, feedforward_channels=128)
# the configs this module owns: every one must appear in the lists above
OWNED = [p for p in glob.glob(f'{SEG}/**/*revisiting*.py', recursive=True)
         + glob.glob(f'{SEG}/**/segmenter-*.py', recursive=True)
         + glob.glob(f'{CLS}/**/*.py', recursive=True) if '/_base_/' not in p]
OWNED += [DEMO_LIN, DEMO_CITY, DEMO_ADE]


def rel(path):
    return osp.relpath(path, REPO)


def save_backbone_ckpt(module, path, **extra):
    state = {'backbone.' + k: v for k, v in module.state_dict().items()}
    state.update(extra)
    torch.save({'state_dict': state, 'meta': {'epoch': 1}}, path)
    return str(path)


def build_vit(**kwargs):
    vit = MODELS.build(dict(type='VisionTransformer', patch_size=16, out_type='featmap', **kwargs))
    vit.init_weights()
    return vit


@pytest.fixture(scope='module')
def ckpt_dir(tmp_path_factory):
    return tmp_path_factory.mktemp('segcls_ckpt')




@pytest.fixture(scope='module')
def r18_checkpoint(ckpt_dir):
    """The tiny test pretraining's layout (MoCo v2, ResNet-18), random weights."""
    model = MODELS.build(Config.fromfile(TINY['mocov2']).model)
    model.init_weights()
    path = str(ckpt_dir / 'mocov2_r18.pth')
    torch.save({'state_dict': model.state_dict(), 'meta': {'epoch': 1}}, path)
    return path


@pytest.fixture(scope='module')
def vit_b_staged(ckpt_dir):
    """A random mmpretrain ViT-B/16 (LOCA layout: no class token) as a `backbone.` checkpoint,
    extracted once: (weights file, state dict). Saved + extracted once (~350 MB each)."""
    vit = build_vit(arch='base', img_size=224, with_cls_token=False)
    path = save_backbone_ckpt(vit, ckpt_dir / 'loca_vit-b16.pth',
                              **{'target_net.dummy': torch.zeros(1)})
    del vit
    weights = str(ckpt_dir / 'vit-b16_backbone.pth')
    pretrained = extract_backbone(path, weights)
    os.remove(path)
    return weights, pretrained


@pytest.fixture(scope='module')
def vit_mini_checkpoint(ckpt_dir):
    return save_backbone_ckpt(build_vit(arch=MINI_VIT, img_size=64, with_cls_token=False),
                              ckpt_dir / 'vit_mini.pth')




def staged_vit_b(cfg_path, vit_b_staged, **overrides):
    weights, pretrained = vit_b_staged
    cfg = Config.fromfile(cfg_path)
    cfg.merge_from_dict(overrides)
    register_scope(cfg.default_scope)
    inject_pretrained(cfg, weights)
    return cfg, pretrained


# --------------------------------------------------------------------------- complete loading
def test_every_owned_config_is_tested():
    listed = set(RESNET50_CONFIGS + VIT_B_CONFIGS + RESNET18_DEMO_CONFIGS + [DEMO_ADE])
    listed |= {p for sweep in SWEEPS.values() for p in sweep.values()} | set(ADAMW.values())
    listed |= set(VIT_S_CONFIGS)
    assert all(osp.isfile(p) for p in listed), [rel(p) for p in listed if not osp.isfile(p)]
    assert set(OWNED) == listed, sorted(rel(p) for p in set(OWNED) ^ listed)


@pytest.mark.parametrize('path', RESNET50_CONFIGS, ids=rel)
def test_resnet50_config_loads_every_backbone_tensor(path, r50_checkpoint, tmp_path):
    cfg, pretrained = staged(path, r50_checkpoint, tmp_path)
    report = verify(cfg, pretrained)
    assert report == ['backbone: 265 tensors loaded from the checkpoint']


@pytest.mark.slow
@pytest.mark.parametrize('path', VIT_S_CONFIGS, ids=rel)
def test_vit_s16_config_loads_every_deit_small_tensor(path, tmp_path):
    """ViT-S/16 (mmpretrain arch 'deit-small', 384-d) into every *_vit-s16_* config."""
    vit = build_vit(arch='deit-small', img_size=224, with_cls_token=False)
    path_ckpt = save_backbone_ckpt(vit, tmp_path / 'vit_s16.pth')
    cfg = Config.fromfile(path)
    register_scope(cfg.default_scope)
    pretrained = extract_backbone(path_ckpt, str(tmp_path / 'bb.pth'))
    inject_pretrained(cfg, str(tmp_path / 'bb.pth'))
    assert cfg.model.decode_head.in_channels == 384
    assert verify(cfg, pretrained) == [f'backbone: {len(pretrained)} tensors loaded from the '
                                       'checkpoint']


@pytest.mark.parametrize('path', VIT_B_CONFIGS, ids=rel)
def test_segmenter_config_loads_every_vit_tensor(path, vit_b_staged):
    cfg, pretrained = staged_vit_b(path, vit_b_staged)
    assert cfg.model.backbone.type == 'mmpretrain.VisionTransformer'
    report = verify(cfg, pretrained)
    assert report == [f'backbone: {len(pretrained)} tensors loaded from the checkpoint']
    assert len(pretrained) == 149  # 12 blocks x 12 + patch embed 2 + pos embed + final LN 2


@pytest.mark.parametrize('path', RESNET18_DEMO_CONFIGS, ids=rel)
def test_demo_resnet18_config_loads_completely(path, r18_checkpoint, tmp_path):
    cfg, pretrained = staged(path, r18_checkpoint, tmp_path)
    assert verify(cfg, pretrained) == ['backbone: 100 tensors loaded from the checkpoint']


def test_demo_segmenter_config_loads_completely(vit_mini_checkpoint, tmp_path):
    cfg, pretrained = staged(DEMO_ADE, vit_mini_checkpoint, tmp_path)
    assert verify(cfg, pretrained) == ['backbone: 29 tensors loaded from the checkpoint']


@pytest.mark.parametrize('path', [REV_VOC, REV_CITY, LIN_M, SEMI[1]], ids=rel)
def test_vit_checkpoint_into_resnet_config_is_refused(path, vit_mini_checkpoint, tmp_path):
    cfg, pretrained = staged(path, vit_mini_checkpoint, tmp_path)
    with pytest.raises(IncompleteLoadingError, match='would stay random') as err:
        verify(cfg, pretrained)
    assert 'conv1.weight' in str(err.value) and 'patch_embed' in str(err.value)


@pytest.mark.parametrize('path', [SEGM_ADE, SEGM_CITY], ids=rel)
def test_resnet_checkpoint_into_segmenter_config_is_refused(path, r50_checkpoint, tmp_path):
    cfg, pretrained = staged(path, r50_checkpoint, tmp_path)
    with pytest.raises(IncompleteLoadingError, match='would stay random') as err:
        verify(cfg, pretrained)
    assert 'layers.0.attn.qkv.weight' in str(err.value) and 'layer1' in str(err.value)


def test_mmseg_own_vit_would_leave_an_mmpretrain_checkpoint_random(vit_b_staged):
    """Why the configs build `mmpretrain.VisionTransformer`: mmseg's ViT has other key names."""
    cfg, pretrained = staged_vit_b(SEGM_ADE, vit_b_staged)
    cfg.model.backbone = dict(
        type='VisionTransformer', img_size=(224, 224), patch_size=16, embed_dims=768,
        num_layers=12, num_heads=12, with_cls_token=False, final_norm=True, out_indices=11,
        init_cfg=cfg.model.backbone.init_cfg)
    with pytest.raises(IncompleteLoadingError) as err:
        verify(cfg, pretrained)
    assert 'attn.attn.in_proj_weight' in str(err.value)


def test_class_token_checkpoint_needs_with_cls_token(tmp_path):
    """A ViT with a class token (e.g. converted DINO / MAE) is refused by the LOCA-layout config
    and loads completely with `model.backbone.with_cls_token=True`."""
    ckpt = save_backbone_ckpt(build_vit(arch=MINI_VIT, img_size=64, with_cls_token=True),
                              tmp_path / 'vit_cls.pth')
    cfg, pretrained = staged(DEMO_ADE, ckpt, tmp_path)
    with pytest.raises(IncompleteLoadingError, match='pos_embed'):
        verify(cfg, pretrained)
    cfg, pretrained = staged(DEMO_ADE, ckpt, tmp_path, **{'model.backbone.with_cls_token': True})
    assert verify(cfg, pretrained) == ['backbone: 30 tensors loaded from the checkpoint']


# --------------------------------------------------------------------------- architecture
def build(path, **overrides):
    from mmengine.registry import MODELS as ROOT, DefaultScope
    cfg = Config.fromfile(path)
    cfg.merge_from_dict(overrides)
    register_scope(cfg.default_scope)
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        return cfg, ROOT.build(copy.deepcopy(cfg.model))


@pytest.mark.parametrize('path,head_dilation', [(REV_VOC, 6), (REV_CITY, 1)], ids=['voc', 'city'])
def test_revisiting_fcn_architecture(path, head_dilation):
    from mmcv.cnn import ConvModule
    cfg, model = build(path)
    assert type(model.backbone).__name__ == 'ResNet' and model.backbone.depth == 50
    assert not model.with_auxiliary_head
    conv2 = [b.conv2 for b in model.backbone.layer4]
    assert all(c.stride == (1, 1) for c in conv2)
    assert [c.dilation for c in conv2] == [(1, 1), (2, 2), (2, 2)]  # torchvision-style
    head = model.decode_head
    convs = [m for m in head.convs if isinstance(m, ConvModule)]
    assert len(convs) == 2 and not head.concat_input and head.dropout is None
    for c in convs:
        assert c.conv.kernel_size == (3, 3) and c.conv.out_channels == 256
        assert c.conv.dilation == (head_dilation, ) * 2 and c.with_norm and c.with_activation
    assert head.conv_seg.kernel_size == (1, 1)
    model.eval()
    with torch.no_grad():
        c5 = model.backbone(torch.zeros(1, 3, 64, 64))[-1]
    assert c5.shape == (1, 2048, 4, 4)  # output stride 16


def test_revisiting_schedules():
    voc, city = Config.fromfile(REV_VOC), Config.fromfile(REV_CITY)
    assert voc.train_cfg.max_epochs == 45 and voc.train_cfg.type == 'EpochBasedTrainLoop'
    assert voc.optim_wrapper.optimizer == dict(type='SGD', lr=0.003, momentum=0.9,
                                               weight_decay=1e-4)
    assert voc.param_scheduler[0].milestones == [30, 40] and voc.param_scheduler[0].by_epoch
    assert voc.train_dataloader.batch_size * 4 == voc.auto_scale_lr.base_batch_size == 16
    assert voc.crop_size == (513, 513)
    assert city.optim_wrapper.optimizer.type == 'Adam' and city.optim_wrapper.optimizer.lr == 1e-4
    assert city.param_scheduler[0].type == 'PolyLR' and city.param_scheduler[0].eta_min == 0
    assert city.crop_size == (768, 768) and city.train_cfg.max_epochs == 150
    for cfg in (voc, city):
        assert cfg.train_dataloader.sampler.type == 'DefaultSampler'  # epoch-based
        for t in cfg.train_pipeline:
            assert t['type'] != 'PhotoMetricDistortion'


def test_segmenter_linear_decoder_and_schedules(vit_mini_checkpoint):
    for path, iters, crop, batch in ((SEGM_ADE, 160000, 512, 16), (SEGM_PCONTEXT, 80000, 512, 16),
                                     (SEGM_VOC, 80000, 512, 16), (SEGM_CITY, 80000, 768, 8)):
        cfg = Config.fromfile(path)
        assert cfg.train_cfg.max_iters == iters and cfg.param_scheduler[0].end == iters
        # LOCA A.3: poly, wd 0.01, lr from {8e-5, 1e-4, 3e-4, 8e-4}; where LOCA is silent,
        # Segmenter's released recipe: SGD momentum 0.9, poly power 0.9 down to 1e-5
        assert cfg.param_scheduler[0].type == 'PolyLR' and cfg.param_scheduler[0].power == 0.9
        assert cfg.param_scheduler[0].eta_min == 1e-5
        assert cfg.optim_wrapper.optimizer == dict(type='SGD', lr=8e-4, momentum=0.9,
                                                   weight_decay=0.01)
        assert cfg.model.backbone.drop_path_rate == 0.1
        assert cfg.model.test_cfg.mode == 'slide' and cfg.model.test_cfg.crop_size == (crop, crop)
        assert cfg.crop_size == (crop, crop)
        assert cfg.train_dataloader.batch_size * 8 == cfg.auto_scale_lr.base_batch_size == batch
        bb, head = cfg.model.backbone, cfg.model.decode_head
        assert (bb.with_cls_token, bb.out_type, bb.final_norm, bb.img_size) == (
            False, 'featmap', True, 224)
        assert (head.type, head.num_convs, head.in_channels, head.channels) == (
            'FCNHead', 0, 768, 768)
    # the decoder is one 1x1 conv on the patch-token map (demo-size model, real forward)
    cfg, model = build(DEMO_ADE)
    assert isinstance(model.decode_head.convs, torch.nn.Identity)
    model.eval()
    with torch.no_grad():
        feats = model.backbone(torch.zeros(1, 3, 96, 64))
        logits = model.decode_head(feats)
    assert [f.shape for f in feats] == [(1, 64, 6, 4)]
    assert logits.shape == (1, 150, 6, 4)


@pytest.mark.parametrize('base_path', SEGMENTER_DATASETS, ids=rel)
def test_lr_sweep_configs_differ_only_in_lr(base_path):
    base = Config.fromfile(base_path).to_dict()
    for lr, path in SWEEPS[base_path].items():
        cfg = Config.fromfile(path).to_dict()
        assert cfg['optim_wrapper']['optimizer']['lr'] == float(lr)
        cfg['optim_wrapper']['optimizer']['lr'] = base['optim_wrapper']['optimizer']['lr']
        assert cfg == base


@pytest.mark.parametrize('base_path', list(ADAMW), ids=rel)
def test_adamw_option_differs_only_in_the_optimizer(base_path):
    base = Config.fromfile(base_path).to_dict()
    cfg = Config.fromfile(ADAMW[base_path]).to_dict()
    assert cfg['optim_wrapper']['optimizer'] == dict(type='AdamW', lr=8e-4, betas=(0.9, 0.999),
                                                     weight_decay=0.01)
    cfg['optim_wrapper']['optimizer'] = base['optim_wrapper']['optimizer']
    assert cfg == base


def test_classification_protocols():
    m, b, moco = (Config.fromfile(p) for p in (LIN_M, LIN_B, LIN_MOCO))
    assert m.optim_wrapper.optimizer.type == 'LARS' and m.optim_wrapper.optimizer.lr == 3.2
    assert m.train_dataloader.batch_size * 8 == m.auto_scale_lr.base_batch_size == 4096
    assert m.train_cfg.max_epochs == 90 and m.param_scheduler[0].type == 'CosineAnnealingLR'
    assert m.optim_wrapper.paramwise_cfg.custom_keys['bias'].lars_exclude
    assert b.optim_wrapper.optimizer.lr == 0.4 and b.train_cfg.max_epochs == 50
    assert b.param_scheduler[0].milestones == [30, 40]
    assert moco.optim_wrapper.optimizer.lr == 30 and moco.train_cfg.max_epochs == 100
    assert moco.param_scheduler[0].milestones == [60, 80]
    for cfg in (m, b):
        assert cfg.optim_wrapper.optimizer.weight_decay == 0
    for cfg in (b, moco):
        assert cfg.train_dataloader.batch_size * 8 == cfg.auto_scale_lr.base_batch_size == 256
    for pct, head_lr, backbone_lr in ((1, 1.0, 1e-4), (10, 0.1, 1e-2)):
        cfg = Config.fromfile(SEMI[pct])
        ow = cfg.optim_wrapper
        assert ow.optimizer.lr == head_lr
        assert ow.optimizer.lr * ow.paramwise_cfg.custom_keys['backbone'].lr_mult == \
            pytest.approx(backbone_lr)
        assert cfg.train_cfg.max_epochs == 50 and cfg.param_scheduler[0].milestones == [30, 40]
        assert cfg.train_dataloader.dataset.ann_file == f'meta/train_{pct}percent.txt'
        assert cfg.model.backbone.frozen_stages == -1
        # LEWEL is silent on the weight decay: its released main_semi.py default
        assert ow.optimizer.weight_decay == 1e-4 and ow.optimizer.momentum == 0.9


@pytest.mark.parametrize('path', [LIN_M, LIN_B, LIN_MOCO], ids=rel)
def test_linear_probe_freezes_weights_and_bn_statistics(path):
    from mmengine.optim import build_optim_wrapper
    cfg, model = build(path)
    model.train()
    backbone = model.backbone
    assert not any(p.requires_grad for p in backbone.parameters())
    assert all(not m.training for m in backbone.modules()
               if isinstance(m, torch.nn.modules.batchnorm._BatchNorm))
    optim = build_optim_wrapper(model, cfg.optim_wrapper)
    trainable = [p for g in optim.optimizer.param_groups for p in g['params'] if p.requires_grad]
    assert {id(p) for p in trainable} == {id(p) for p in model.head.parameters()}


# --------------------------------------------------------------------------- few-shot splits
@pytest.fixture(scope='module')
def demo_ade(tmp_path_factory):
    from densepre.demo import make_demo_ade20k
    return make_demo_ade20k(str(tmp_path_factory.mktemp('ade') / 'ADEChallengeData2016'),
                            num_train=64, num_val=4)['root']


@pytest.fixture(scope='module')
def demo_cityscapes(tmp_path_factory):
    from densepre.demo import make_demo_cityscapes
    return make_demo_cityscapes(str(tmp_path_factory.mktemp('cityscapes') / 'cityscapes'))['root']


def test_fewshot_splits_are_deterministic_nested_and_sized(demo_ade, tmp_path):
    names = fewshot.training_names(demo_ade)
    assert len(names) == 64 and names == sorted(names)
    paths = fewshot.make_splits(demo_ade, out_dir=str(tmp_path / 'a'))
    again = fewshot.make_splits(demo_ade, out_dir=str(tmp_path / 'b'))
    assert len(paths) == 30
    for p, q in zip(paths, again):
        assert open(p).read() == open(q).read()
    read = {osp.basename(p): open(p).read().split() for p in paths}
    for fold in range(5):
        subsets = [read[fewshot.split_name(f, fold)] for f in fewshot.FRACTIONS]
        assert [len(s) for s in subsets] == [2, 4, 8, 16, 32, 64]
        for small, big in zip(subsets, subsets[1:]):
            assert set(small) < set(big)
        assert set(subsets[-1]) == set(names)
    folds = [tuple(read[fewshot.split_name('1/8', k)]) for k in range(5)]
    assert len(set(folds)) == 5
    assert fewshot.fewshot_subset(names, '1/8', 0, seed=1) != list(folds[0])
    # 1/32 of ADE20k's 20,210 training images: LOCA's "as few as 630"
    assert len(fewshot.fewshot_subset([str(i) for i in range(20210)], '1/32', 0)) == 631


def test_fewshot_split_cli_errors(demo_ade, tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        fewshot.main([demo_ade, '--fraction', '3/2', '--folds', '0', '--out-dir', str(tmp_path)])
    assert e.value.code == 2 and 'must lie in (0, 1]' in capsys.readouterr().err
    with pytest.raises(SystemExit):
        fewshot.main([str(tmp_path / 'absent'), '--all'])
    assert 'ADE20k training images not found' in capsys.readouterr().err
    assert not os.listdir(tmp_path)


def test_fewshot_config_reads_the_split(demo_ade, tmp_path):
    from mmseg.datasets import ADE20KDataset
    path = fewshot.make_splits(demo_ade, ['1/4'], [3], out_dir=str(tmp_path))[0]
    cfg = Config.fromfile(SEGM_FEWSHOT)
    assert cfg.train_dataloader.dataset.ann_file == 'fewshot/' + fewshot.split_name('1/32', 0)
    ds_cfg = dict(cfg.train_dataloader.dataset, data_root=demo_ade, ann_file=path, pipeline=[])
    ds_cfg.pop('type')
    ds_cfg.pop('_scope_', None)
    ds = ADE20KDataset(**ds_cfg)
    stems = [osp.splitext(osp.basename(ds.get_data_info(i)['img_path']))[0]
             for i in range(len(ds))]
    assert sorted(stems) == sorted(open(path).read().split()) and len(ds) == 16


def test_demo_cityscapes_and_ade20k_read_by_mmseg(demo_cityscapes, demo_ade):
    from mmseg.datasets import ADE20KDataset, CityscapesDataset
    from mmseg.datasets.transforms import LoadAnnotations
    city = CityscapesDataset(data_root=demo_cityscapes, pipeline=[],
                             data_prefix=dict(img_path='leftImg8bit/train',
                                              seg_map_path='gtFine/train'))
    ade = ADE20KDataset(data_root=demo_ade, pipeline=[],
                        data_prefix=dict(img_path='images/validation',
                                         seg_map_path='annotations/validation'))
    assert len(city) == 8 and len(ade) == 4
    for ds, allowed in ((city, set(range(19)) | {255}), (ade, set(range(150)) | {255})):
        info = ds.get_data_info(0)
        seg = LoadAnnotations()(dict(info))['gt_seg_map']
        assert set(np.unique(seg)) <= allowed and len(np.unique(seg)) >= 2


# --------------------------------------------------------------------------- feature probe
def test_logreg_reaches_the_optimum():
    """L-BFGS solution: the gradient of the sklearn-style objective vanishes (both modes)."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(120, 10, generator=g, dtype=torch.float64)
    y_bin = (x[:, :3] + 0.5 * torch.randn(120, 3, generator=g, dtype=torch.float64) > 0)
    mask = torch.rand(120, 3, generator=g) > 0.1
    y_multi = (x[:, :4].argmax(1))
    for multinomial, y, m in ((False, y_bin.to(torch.int8), mask), (True, y_multi, None)):
        c = 0.3
        w, b = feature_probe.fit_logreg(x, y=y, c=c, multinomial=multinomial, mask=m,
                                        num_classes=4, max_iter=500)
        w.requires_grad_(True)
        b.requires_grad_(True)
        logits = x @ w + b
        if multinomial:
            loss = torch.nn.functional.cross_entropy(logits, y, reduction='sum')
        else:
            loss = (torch.nn.functional.binary_cross_entropy_with_logits(
                logits, y.double(), reduction='none') * m.double()).sum()
        obj = c * loss + (w * w).sum() / 2
        obj.backward()
        assert w.grad.abs().max() < 1e-4 * c * 120 and b.grad.abs().max() < 1e-4 * c * 120


def test_voc07_average_precision():
    ap11, area = feature_probe.voc07_ap(np.array([.9, .8, .7, .6]),
                                        np.array([True, False, True, False]))
    # precision at the hits: 1 (rank 1), 2/3 (rank 3); recall 0.5, 1
    assert area == pytest.approx((1 + 2 / 3) / 2)
    assert ap11 == pytest.approx((6 * 1 + 5 * 2 / 3) / 11)
    assert feature_probe.voc07_ap(np.array([3., 2., 1.]), np.array([True, True, False])) == (1., 1.)


def test_feature_probe_refuses_a_vit_checkpoint(vit_mini_checkpoint):
    with pytest.raises(ValueError, match='ResNet checkpoints only'):
        feature_probe.load_backbone(vit_mini_checkpoint)


def test_feature_probe_missing_voc_root(r18_checkpoint, tmp_path):
    with pytest.raises(FileNotFoundError, match='VOC2007 devkit not found'):
        feature_probe.main([r18_checkpoint, '--data-root', str(tmp_path / 'absent'),
                            '--out-dir', str(tmp_path / 'out')])
    assert not (tmp_path / 'out').exists()


# --------------------------------------------------------------------------- scripts: bad input
def run_script(script, *args, env=None, cwd=None, timeout=900):
    full_env = dict(os.environ, PYTHON=PYTHON, OMP_NUM_THREADS='1', PYTHONPATH=REPO, **(env or {}))
    return subprocess.run(['bash', osp.join(REPO, 'tools/benchmarks', script), *args],
                          capture_output=True, text=True, env=full_env, cwd=cwd, timeout=timeout)


def test_scripts_reject_bad_options(r18_checkpoint, tmp_path):
    cases = [
        ('linear_cls.sh', [r18_checkpoint, '--protocol', 'simclr'], '--protocol must be'),
        ('semi_cls.sh', [r18_checkpoint, '5'], 'must be 1 or 10'),
        ('semi_cls.sh', [str(tmp_path / 'absent.pth'), '1'], 'checkpoint not found'),
        ('ade20k_linear.sh', [r18_checkpoint, '--fraction', '1/3'], '--fraction must be one of'),
        ('ade20k_linear.sh', [r18_checkpoint, '--dataset', 'voc', '--fraction', '1/8'],
         '--fraction is for --dataset ade20k'),
        ('ade20k_linear.sh', [r18_checkpoint, '--fold', '2'], '--fold needs --fraction'),
        ('ade20k_linear.sh', [r18_checkpoint, '--dataset', 'coco'], '--dataset must be'),
        ('ade20k_linear.sh', [r18_checkpoint, '--lr', 'fast'], "bad --lr"),
        ('ade20k_linear.sh', [r18_checkpoint, '--optimizer', 'adam'],
         '--optimizer must be sgd or adamw'),
        ('voc_seg.sh', [r18_checkpoint, '--seeds', '0'], '--seeds needs a positive count'),
        ('ade20k_linear.sh', [str(tmp_path / 'absent.pth')], 'checkpoint not found'),
    ]
    for script, args, message in cases:
        proc = run_script(script, *args, '--work-dir', str(tmp_path / 'work'))
        assert proc.returncode == 2, (script, args, proc.stderr[-2000:])
        assert message in proc.stderr, (script, args, proc.stderr[-2000:])
    for script in ('cityscapes_seg.sh', 'ade20k_linear.sh', 'linear_cls.sh', 'semi_cls.sh'):
        proc = run_script(script)  # no arguments: the usage from the header
        assert proc.returncode == 2 and f'tools/benchmarks/{script} CKPT' in proc.stderr
    assert not (tmp_path / 'work').exists()


def test_cityscapes_seg_missing_data_root_fails_before_writing(r50_checkpoint, tmp_path):
    work = tmp_path / 'work'
    proc = run_script('cityscapes_seg.sh', r50_checkpoint, '--work-dir', str(work), cwd=tmp_path)
    assert proc.returncode != 0 and 'dataset root(s) not found' in proc.stderr
    assert 'data/cityscapes' in proc.stderr and not work.exists()


def test_ade20k_linear_refuses_resnet_checkpoint(r18_checkpoint, demo_ade, tmp_path):
    """The real ViT-B/16 config, a ResNet checkpoint: IncompleteLoadingError, no work dir."""
    work = tmp_path / 'work'
    proc = run_script('ade20k_linear.sh', r18_checkpoint, '--data-root', demo_ade,
                      '--work-dir', str(work))
    assert proc.returncode != 0 and 'IncompleteLoadingError' in proc.stderr, proc.stderr[-3000:]
    assert 'layers.0.attn.qkv.weight' in proc.stderr and not work.exists()


# --------------------------------------------------------------------------- end to end (slow)
@pytest.fixture(scope='module')
def demo_pretrained(demo_root, tmp_path_factory):
    """A checkpoint of a real (tiny) MoCo v2 ResNet-18 pretraining run on the demo data."""
    out = tmp_path_factory.mktemp('segcls_pre')
    run_train(TINY['mocov2'], out, *data_opts(demo_root), 'train_cfg.max_epochs=1')
    return str(out / 'epoch_1.pth')


def roots(loaders, root):
    return [f'{loader}.dataset.data_root={root}' for loader in loaders]


@pytest.mark.slow
def test_linear_cls_end_to_end_keeps_the_backbone_frozen(demo_pretrained, demo_root, tmp_path):
    work = tmp_path / 'lin'
    proc = run_script('linear_cls.sh', demo_pretrained, '--protocol', 'lewel_b', '--work-dir',
                      str(work), '--cfg-options',
                      *roots(('train_dataloader', 'val_dataloader', 'test_dataloader'),
                             f'{demo_root}/imagenet'), env=dict(CONFIG=DEMO_LIN))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'complete loading verified: backbone: 100 tensors' in proc.stdout + proc.stderr
    result = json.load(open(work / 'metrics.json'))
    assert result['benchmark'] == 'linear_cls_lewel_b'
    assert 0 <= result['metrics']['accuracy/top1'] <= 100
    # frozen weights AND BN statistics: the trained model's backbone equals the checkpoint's
    pretrained = torch.load(work / 'pretrained_backbone.pth', weights_only=True)['state_dict']
    trained = torch.load(work / 'epoch_2.pth', weights_only=False)['state_dict']
    backbone = {k: v for k, v in trained.items()
                if k.startswith('backbone.') and not k.endswith('num_batches_tracked')}
    assert len(backbone) == 100
    for k, v in backbone.items():
        assert torch.equal(v, pretrained[k]), k
    assert not torch.equal(trained['head.fc.weight'], torch.zeros_like(trained['head.fc.weight']))


@pytest.mark.slow
def test_feature_probe_voc07_end_to_end(demo_pretrained, demo_root, tmp_path):
    proc = subprocess.run(
        [PYTHON, osp.join(REPO, 'tools/benchmarks/feature_probe.py'), demo_pretrained,
         '--data', 'voc07', '--data-root', f'{demo_root}/VOCdevkit/VOC2007', '--img-size', '64',
         '--workers', '0', '--out-dir', str(tmp_path / 'probe')],
        capture_output=True, text=True, timeout=600,
        env=dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=REPO))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'RESULT mAP=' in proc.stdout and 'every tensor loaded' in proc.stdout
    result = json.load(open(tmp_path / 'probe/metrics.json'))
    metrics = result['metrics']
    assert 0 <= metrics['mAP'] <= 100 and 0 <= metrics['mAP_area'] <= 100
    assert metrics['num_scored_classes'] >= 1 and len(result['c_search']) == 45
    assert 1e-5 * 0.99 <= metrics['best_C'] <= 1e5 * 1.01


@pytest.mark.slow
def test_feature_probe_imagelist_end_to_end(demo_pretrained, demo_root, tmp_path):
    out = feature_probe.main([demo_pretrained, '--data', 'imagelist', '--data-root',
                              f'{demo_root}/imagenet', '--img-prefix', 'train',
                              '--train-ann', 'meta/train.txt', '--val-ann', 'meta/train.txt',
                              '--test-ann', 'meta/train.txt', '--img-size', '48',
                              '--workers', '0', '--num-c', '5', '--out-dir', str(tmp_path)])
    assert 0 <= out['metrics']['accuracy_top1'] <= 100
    assert json.load(open(tmp_path / 'metrics.json'))['metrics'] == out['metrics']


@pytest.mark.slow
def test_cityscapes_seg_end_to_end(demo_pretrained, demo_cityscapes, tmp_path):
    work = tmp_path / 'city'
    proc = run_script('cityscapes_seg.sh', demo_pretrained, '--work-dir', str(work),
                      '--cfg-options',
                      *roots(('train_dataloader', 'val_dataloader', 'test_dataloader'),
                             demo_cityscapes), env=dict(CONFIG=DEMO_CITY))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'complete loading verified: backbone' in proc.stdout + proc.stderr
    metrics = json.load(open(work / 'metrics.json'))['metrics']
    assert 0 <= metrics['mIoU'] <= 100


@pytest.mark.slow
def test_ade20k_fewshot_end_to_end(vit_mini_checkpoint, demo_ade, tmp_path):
    work = tmp_path / 'ade'
    proc = run_script('ade20k_linear.sh', vit_mini_checkpoint, '--data-root', demo_ade,
                      '--fraction', '1/4', '--fold', '1', '--lr', '3e-4',
                      '--split-dir', str(tmp_path / 'splits'), '--work-dir', str(work),
                      env=dict(CONFIG=DEMO_ADE))
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout + proc.stderr
    assert 'complete loading verified: backbone: 29 tensors' in out
    split = tmp_path / 'splits' / fewshot.split_name('1/4', 1)
    assert len(split.read_text().split()) == 16
    result = json.load(open(work / 'metrics.json'))
    assert result['benchmark'] == 'ade20k_fewshot_frac1-4_fold1_lr3e-4'
    assert 0 <= result['metrics']['mIoU'] <= 100
    dumped = Config.fromfile(glob.glob(str(work / '*.py'))[0])
    assert dumped.train_dataloader.dataset.ann_file == str(split)
    assert dumped.randomness.seed == 1 and dumped.optim_wrapper.optimizer.lr == 3e-4


def test_resized_position_embedding_is_verified_through_load_hooks(vit_mini_checkpoint, tmp_path):
    """A ViT fine-tuned at another resolution (img_size 128 vs the checkpoint's 64) stores a
    resized pos_embed: accepted only if it equals the checkpoint's after the model's own resize
    hook (`resized_by_design`), refused when it is merely random."""
    cfg, pretrained = staged(DEMO_ADE, vit_mini_checkpoint, tmp_path,
                             **{'model.backbone.img_size': 128})
    with pytest.raises(IncompleteLoadingError, match='pos_embed'):
        verify(cfg, pretrained)
    cfg.pretrained_parts = [dict(module='backbone', prefix='backbone.',
                                 resized_by_design=['pos_embed'])]
    report = verify(cfg, pretrained)
    assert 'resized from it (pos_embed (resized (1, 16, 64) -> (1, 64, 64)))' in report[0]
    cfg.model.backbone.init_cfg = None
    with pytest.raises(IncompleteLoadingError):
        verify(cfg, pretrained)
