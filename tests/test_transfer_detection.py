"""Detection transfer (mmdet): every benchmark config follows the MoCo detection protocol and loads
a densepre ResNet-50 completely (C4: backbone res2-4 AND the res5 shared head); voc_det.sh /
coco_det.sh run end to end on the demo data; bad input fails before anything is written."""
import glob
import json
import os
import os.path as osp
import subprocess

import pytest
import torch
from mmengine.config import Config

from densepre.demo import CLASSES, COCO_CLASSES
from densepre.registry import MODELS
from densepre.transfer import IncompleteLoadingError
from densepre.transfer.downstream import register_scope, verify
from utils import PYTHON, REPO, TINY, data_opts, run_train, staged

DET = osp.join(REPO, 'configs/benchmarks/mmdetection')
DET_CONFIGS = sorted(p for p in glob.glob(osp.join(DET, '**', '*.py'), recursive=True)
                     if '/_base_/' not in p)
VOC_C4 = osp.join(DET, 'voc0712/faster-rcnn_r50-c4_ms-24k_voc0712.py')
COCO_C4 = osp.join(DET, 'coco/mask-rcnn_r50-c4_ms-1x_coco.py')
COCO_FPN_1X = osp.join(DET, 'coco/mask-rcnn_r50_fpn_ms-1x_coco.py')
COCO_FPN_2X = osp.join(DET, 'coco/mask-rcnn_r50_fpn_ms-2x_coco.py')
CITYSCAPES = osp.join(DET, 'cityscapes/mask-rcnn_r50_fpn_4xb8-ms-24k_cityscapes.py')
LVIS = osp.join(DET, 'lvis/mask-rcnn_r50_fpn_4xb4-sample1e-3-ms-180k_lvis-v1.py')
# detectron2's LVIS / Cityscapes configs as CLoVE used them ("with no BN" / "without changes")
D2_CONFIGS = (CITYSCAPES, LVIS)
MOCO_CONFIGS = [p for p in DET_CONFIGS if p not in D2_CONFIGS]
DEMO_VOC = osp.join(REPO, 'configs/demo/faster-rcnn_r18-c4_1xb2-ms-200it_demo-voc0712.py')
DEMO_COCO = osp.join(REPO, 'configs/demo/mask-rcnn_r18_fpn_1xb2-ms-200it_demo-coco.py')
C4_CONFIGS = (VOC_C4, COCO_C4)
RGB_MEAN, RGB_STD = [123.675, 116.28, 103.53], [58.395, 57.12, 57.375]
EXTRA_NORM = ['norm.weight', 'norm.bias', 'norm.running_mean', 'norm.running_var']


def rel(path):
    return osp.relpath(path, REPO)






def build(cfg):
    from mmengine.registry import MODELS as ROOT_MODELS
    from mmengine.registry import DefaultScope
    register_scope(cfg.default_scope)
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        return ROOT_MODELS.build(cfg.model)


def test_every_detection_benchmark_is_present():
    assert set(DET_CONFIGS) == {VOC_C4, COCO_C4, COCO_FPN_1X, COCO_FPN_2X, CITYSCAPES, LVIS}


# --------------------------------------------------------------------- complete loading
@pytest.mark.parametrize('path', DET_CONFIGS, ids=rel)
def test_detection_config_loads_every_checkpoint_tensor(path, r50_checkpoint, tmp_path):
    """verify() (what the scripts run before training) passes for every part; together the parts
    use every backbone tensor of the checkpoint (C4: res2-4 in the backbone, res5 in the head)."""
    cfg, pretrained = staged(path, r50_checkpoint, tmp_path)
    report = verify(cfg, pretrained)
    assert report[0].startswith('backbone:') and 'random by design' not in report[0]
    model = build(cfg)
    used = {f'backbone.{k}' for k in model.backbone.state_dict()}
    if path in C4_CONFIGS:
        assert len(report) == 2 and report[1].startswith('roi_head.shared_head:')
        assert '50 tensors loaded' in report[1] and '4 random by design' in report[1]
        assert not any(k.startswith('layer4.') for k in model.backbone.state_dict())
        head = model.roi_head.shared_head.state_dict()
        assert sorted(k for k in head if k.startswith('norm.') and 'num_batches' not in k) \
            == sorted(EXTRA_NORM)
        used |= {f'backbone.{k}' for k in head if not k.startswith('norm.')}
    else:
        assert len(report) == 1
    assert used == set(pretrained), 'checkpoint tensors no part of the detector uses: ' \
        f'{sorted(set(pretrained) - used)[:5]}'


@pytest.mark.parametrize('path', C4_CONFIGS, ids=rel)
def test_c4_shared_head_without_res5_in_checkpoint_is_refused(path, r50_checkpoint, tmp_path):
    """A checkpoint without res5 (e.g. a truncated backbone) leaves the C4 head random: refused,
    naming the part and the keys (the backbone itself, res2-4, would load fine)."""
    state = torch.load(r50_checkpoint, weights_only=False)['state_dict']
    cut = {k: v for k, v in state.items() if not k.startswith('backbone.layer4.')}
    torch.save({'state_dict': cut}, tmp_path / 'no_res5.pth')
    cfg, pretrained = staged(path, str(tmp_path / 'no_res5.pth'), tmp_path)
    with pytest.raises(IncompleteLoadingError, match=r'roi_head\.shared_head') as err:
        verify(cfg, pretrained)
    assert 'layer4.0.conv1.weight' in str(err.value)
    assert 'norm.weight' not in str(err.value)  # random by design, not reported


def test_undeclared_extra_norm_is_refused(r50_checkpoint, tmp_path):
    """The extra norm must be listed as random by design: without the declaration the shared
    head is refused (so a silently random layer can never pass)."""
    cfg, pretrained = staged(VOC_C4, r50_checkpoint, tmp_path)
    cfg.pretrained_parts[1]['random_by_design'] = []
    with pytest.raises(IncompleteLoadingError, match=r'norm\.weight'):
        verify(cfg, pretrained)


# ------------------------------------------------------------------ MoCo detection protocol
def _norm_layers(module):
    kinds = (torch.nn.modules.batchnorm._NormBase, torch.nn.GroupNorm, torch.nn.LayerNorm)
    return [(n, type(m).__name__) for n, m in module.named_modules() if isinstance(m, kinds)]


@pytest.mark.parametrize('path', MOCO_CONFIGS, ids=rel)
def test_moco_detection_protocol(path):
    cfg = Config.fromfile(path)
    assert cfg.default_scope == 'mmdet'
    assert cfg.model.get('pretrained') is None and cfg.get('load_from') is None
    bb = cfg.model.backbone
    assert (bb.type, bb.depth, bb.style) == ('ResNet', 50, 'pytorch')
    assert bb.frozen_stages == -1 and bb.norm_eval is False and bb.init_cfg is None
    assert bb.norm_cfg == dict(type='SyncBN', requires_grad=True)
    pre = cfg.model.data_preprocessor
    assert pre.mean == RGB_MEAN and pre.std == RGB_STD and pre.bgr_to_rgb is True
    roi = cfg.model.roi_head
    if path in C4_CONFIGS:
        assert (bb.num_stages, bb.out_indices) == (3, (2, ))
        sh = roi.shared_head
        assert sh.type == 'ResLayerExtraNorm' and sh.style == 'pytorch' and sh.depth == 50
        assert sh.norm_eval is False and sh.norm_cfg.type == 'SyncBN' and sh.init_cfg is None
        assert cfg.pretrained_parts[1] == dict(module='roi_head.shared_head', prefix='backbone.',
                                               random_by_design=['norm.'])
    else:
        assert cfg.model.neck.norm_cfg.type == 'SyncBN'
        assert roi.bbox_head.type == 'Shared4Conv1FCBBoxHead'
        assert roi.bbox_head.norm_cfg.type == 'SyncBN' and roi.mask_head.norm_cfg.type == 'SyncBN'
    # every normalisation layer of the built detector is SyncBN (reverted to BN on one process)
    norms = _norm_layers(build(cfg))
    assert norms and {t for _, t in norms} == {'SyncBatchNorm'}, \
        [n for n in norms if n[1] != 'SyncBatchNorm'][:5]
    # multi-scale training
    ds = cfg.train_dataloader.dataset
    while 'pipeline' not in ds:
        ds = ds['datasets'][0] if 'datasets' in ds else ds['dataset']
    resize = [t for t in ds.pipeline if 'Resize' in t.type]
    assert len(resize) == 1 and resize[0].type == 'RandomChoiceResize'
    assert len(resize[0].scales) > 1 and resize[0].keep_ratio
    assert cfg.auto_scale_lr.enable and cfg.auto_scale_lr.base_batch_size > 0


@pytest.mark.parametrize('path,frozen_stages', [(CITYSCAPES, -1), (LVIS, 1)],
                         ids=['cityscapes', 'lvis'])
def test_detectron2_lvis_and_cityscapes_as_clove_used_them(path, frozen_stages):
    """CLoVE appendix: detectron2's LVISv1 / Cityscapes mask_rcnn_R_50_FPN configs "with no BN" /
    "without changes": FrozenBN backbone, no norm layers in the FPN and the heads, the 2-fc box
    head; checked on the built model."""
    cfg = Config.fromfile(path)
    assert cfg.model.get('pretrained') is None and cfg.get('load_from') is None
    bb = cfg.model.backbone
    assert (bb.type, bb.depth, bb.style, bb.init_cfg) == ('ResNet', 50, 'pytorch', None)
    assert bb.frozen_stages == frozen_stages
    assert bb.norm_cfg == dict(type='BN', requires_grad=False) and bb.norm_eval is True
    pre = cfg.model.data_preprocessor
    assert pre.mean == RGB_MEAN and pre.std == RGB_STD and pre.bgr_to_rgb is True
    model = build(cfg)
    assert type(model.roi_head.bbox_head).__name__ == 'Shared2FCBBoxHead'
    head = model.roi_head.bbox_head
    assert head.num_shared_fcs == 2 and head.num_shared_convs == 0
    norms = _norm_layers(model)
    assert norms and all(n.startswith('backbone.') for n, _ in norms), \
        [n for n, _ in norms if not n.startswith('backbone.')][:5]
    assert {t for _, t in norms} == {'BatchNorm2d'}
    model.train()  # FrozenBN: BN in eval mode while training, no trainable affine parameters
    assert not any(m.training for n, m in model.backbone.named_modules() if 'bn' in n)
    assert not any(p.requires_grad for n, p in model.backbone.named_parameters() if 'bn' in n)
    trained_convs = [n for n, p in model.backbone.named_parameters()
                     if p.requires_grad and 'conv' in n]
    assert ('conv1.weight' in trained_convs) == (frozen_stages == -1)
    assert 'layer2.0.conv1.weight' in trained_convs
    # 4 GPUs x per-GPU batch = the paper's batch
    per_gpu = {CITYSCAPES: 8, LVIS: 4}[path]
    assert cfg.train_dataloader.batch_size == per_gpu
    assert per_gpu * 4 == cfg.auto_scale_lr.base_batch_size


SCHEDULES = {  # path: (loop, length, milestones, lr, paper batch, short sides)
    VOC_C4: ('iter', 24000, [18000, 22000], 0.02, 16, range(480, 801, 32)),
    COCO_C4: ('epoch', 12, [8, 11], 0.02, 16, range(640, 801, 32)),
    COCO_FPN_1X: ('epoch', 12, [8, 11], 0.02, 16, range(640, 801, 32)),
    COCO_FPN_2X: ('epoch', 24, [16, 22], 0.02, 16, range(640, 801, 32)),
    CITYSCAPES: ('iter', 24000, [18000], 0.01, 32, range(800, 1025, 32)),
    LVIS: ('iter', 180000, [120000, 160000], 0.001, 16, range(640, 801, 32)),
}


@pytest.mark.parametrize('path', DET_CONFIGS, ids=rel)
def test_paper_schedule(path):
    loop, length, milestones, lr, batch, sides = SCHEDULES[path]
    cfg = Config.fromfile(path)
    if loop == 'iter':
        assert cfg.train_cfg.type == 'IterBasedTrainLoop' and cfg.train_cfg.max_iters == length
        assert cfg.train_dataloader.sampler.type == 'InfiniteSampler'
    else:
        assert cfg.train_cfg.type == 'EpochBasedTrainLoop' and cfg.train_cfg.max_epochs == length
    step = [s for s in cfg.param_scheduler if s.type == 'MultiStepLR']
    assert len(step) == 1 and step[0].milestones == milestones
    assert step[0].by_epoch == (loop == 'epoch')
    assert cfg.optim_wrapper.optimizer.lr == lr and cfg.optim_wrapper.optimizer.type == 'SGD'
    gpus = 4 if path in D2_CONFIGS else 8
    assert cfg.train_dataloader.batch_size * gpus == batch == cfg.auto_scale_lr.base_batch_size
    ds = cfg.train_dataloader.dataset
    while 'pipeline' not in ds:
        ds = ds['datasets'][0] if 'datasets' in ds else ds['dataset']
    resize = [t for t in ds.pipeline if t.type == 'RandomChoiceResize'][0]
    assert sorted(min(s) for s in resize.scales) == list(sides)


def test_voc_is_07_12_trainval_and_07_test_with_11point_coco_style_ap():
    cfg = Config.fromfile(VOC_C4)
    train = cfg.train_dataloader.dataset
    assert train.type == 'ConcatDataset'
    assert [(d.ann_file, d.data_prefix.sub_data_root) for d in train.datasets] == [
        ('VOC2007/ImageSets/Main/trainval.txt', 'VOC2007/'),
        ('VOC2012/ImageSets/Main/trainval.txt', 'VOC2012/')]
    test = cfg.test_dataloader.dataset
    assert (test.ann_file, test.data_prefix.sub_data_root) == (
        'VOC2007/ImageSets/Main/test.txt', 'VOC2007/')
    ev = cfg.test_evaluator
    assert ev.type == 'VOCMetric' and ev.eval_mode == '11points'
    assert ev.iou_thrs == pytest.approx([0.5 + 0.05 * i for i in range(10)])


def test_voc_metric_names_and_averages_ap_over_iou_thresholds():
    """mmdet's VOCMetric with the config's thresholds: keys AP50 ... AP95 (no float-rounding
    surprises such as AP64), and mAP is their mean -- the AP of LEWEL / CLoVE's VOC tables."""
    from mmengine.registry import METRICS, DefaultScope
    import numpy as np
    cfg = Config.fromfile(VOC_C4)
    register_scope('mmdet')
    with DefaultScope.overwrite_default_scope('mmdet'):
        metric = METRICS.build(cfg.test_evaluator)
    metric.dataset_meta = dict(classes=CLASSES, dataset_type='VOC2007')
    gt = np.array([[10., 10., 60., 60.], [70., 20., 120., 90.]], np.float32)
    pred = gt + np.array([[0, 0, 4, 4], [0, 0, 0, 0]], np.float32)  # IoU 0.85 and 1
    empty = np.zeros((0, 4), np.float32)
    sample = dict(
        gt_instances=dict(labels=torch.tensor([0, 1]), bboxes=torch.from_numpy(gt)),
        ignored_instances=dict(labels=torch.zeros(0, dtype=torch.long),
                               bboxes=torch.from_numpy(empty)),
        pred_instances=dict(bboxes=torch.from_numpy(pred), scores=torch.tensor([.9, .8]),
                            labels=torch.tensor([0, 1])))
    metric.process({}, [sample])
    res = metric.compute_metrics(metric.results)
    assert list(res) == ['mAP'] + [f'AP{t}' for t in range(50, 100, 5)]
    assert res['AP50'] == res['AP75'] == pytest.approx(1.0)
    assert res['AP90'] < 1.0
    assert res['mAP'] == pytest.approx(np.mean([res[f'AP{t}'] for t in range(50, 100, 5)]),
                                       abs=1e-3)


def test_extra_norm_is_registered_in_mmdet_not_mmpretrain():
    """mmpretrain's ResLayerExtraNorm registers itself into mmdet's MODELS: the cross-scope name
    'mmpretrain.ResLayerExtraNorm' does not resolve, the configs use the plain name."""
    from mmengine.registry import MODELS as ROOT_MODELS
    from mmengine.registry import DefaultScope
    Config.fromfile(VOC_C4)  # custom_imports registers the class
    register_scope('mmdet')
    with DefaultScope.overwrite_default_scope('mmdet'):
        with pytest.raises(KeyError):
            ROOT_MODELS.build(dict(type='mmpretrain.ResLayerExtraNorm', depth=50))
        head = ROOT_MODELS.build(dict(type='ResLayerExtraNorm', depth=18, stage=3,
                                      norm_cfg=dict(type='BN')))
    head.eval()
    out = head(torch.randn(2, 256, 8, 8))
    assert out.shape == (2, 512, 4, 4)


def test_c4_mask_rcnn_trains_and_predicts_through_shared_res5():
    """The C4 Mask R-CNN (mask branch reusing res5 + extra norm) runs a training step and
    inference (ResNet-18 and few proposals to stay fast)."""
    from mmdet.testing import demo_mm_inputs
    from mmengine.model import revert_sync_batchnorm
    cfg = Config.fromfile(COCO_C4)
    cfg.merge_from_dict({
        'model.backbone.depth': 18, 'model.rpn_head.in_channels': 256,
        'model.rpn_head.feat_channels': 256, 'model.roi_head.shared_head.depth': 18,
        'model.roi_head.bbox_roi_extractor.out_channels': 256,
        'model.roi_head.bbox_head.in_channels': 512, 'model.roi_head.bbox_head.num_classes': 4,
        'model.roi_head.mask_head.in_channels': 512, 'model.roi_head.mask_head.num_classes': 4,
        'model.train_cfg.rpn_proposal.max_per_img': 32, 'model.train_cfg.rcnn.sampler.num': 16,
        'model.test_cfg.rpn.max_per_img': 16})
    model = revert_sync_batchnorm(build(cfg))
    model.init_weights()
    packed = demo_mm_inputs(batch_size=1, image_shapes=[(3, 96, 128)], num_items=[2],
                            num_classes=4, with_mask=True)
    data = model.data_preprocessor(packed, True)
    losses = model(**data, mode='loss')
    assert {'loss_cls', 'loss_bbox', 'loss_mask', 'loss_rpn_cls'} <= set(losses)
    sum(v if isinstance(v, torch.Tensor) else sum(v) for v in losses.values()).backward()
    assert model.roi_head.shared_head.norm.weight.grad is not None
    model.eval()
    with torch.no_grad():
        pred = model(**model.data_preprocessor(packed, False), mode='predict')
    assert 'masks' in pred[0].pred_instances


def test_demo_configs_use_the_demo_classes_and_inherit_the_benchmarks():
    voc, coco = Config.fromfile(DEMO_VOC), Config.fromfile(DEMO_COCO)
    for ds in voc.train_dataloader.dataset.datasets + [voc.test_dataloader.dataset]:
        assert tuple(ds.metainfo.classes) == CLASSES and ds.data_root == 'data/demo/VOCdevkit/'
    for ds in (coco.train_dataloader.dataset, coco.test_dataloader.dataset):
        assert tuple(ds.metainfo.classes) == COCO_CLASSES and ds.data_root == 'data/demo/coco/'
    assert voc.model.roi_head.bbox_head.num_classes == len(CLASSES)
    assert coco.model.roi_head.mask_head.num_classes == len(COCO_CLASSES)
    # the protocol parts come from the benchmark configs
    assert voc.model.roi_head.shared_head.type == 'ResLayerExtraNorm'
    assert voc.pretrained_parts == Config.fromfile(VOC_C4).pretrained_parts
    assert coco.model.roi_head.bbox_head.type == 'Shared4Conv1FCBBoxHead'


@pytest.mark.parametrize('path', [DEMO_VOC, DEMO_COCO], ids=rel)
def test_demo_config_loads_an_r18_checkpoint_completely(path, tmp_path):
    cfg = Config.fromfile(osp.join(REPO, TINY['mocov2']))
    model = MODELS.build(cfg.model)
    torch.save({'state_dict': model.state_dict()}, tmp_path / 'r18.pth')
    cfg, pretrained = staged(path, str(tmp_path / 'r18.pth'), tmp_path)
    report = verify(cfg, pretrained)
    assert len(report) == (2 if path == DEMO_VOC else 1)


# ----------------------------------------------------------------------------- scripts
def run_script(script, *args, env=None, cwd=None):
    full_env = dict(os.environ, PYTHON=PYTHON, OMP_NUM_THREADS='1', PYTHONPATH=REPO, **(env or {}))
    return subprocess.run(['bash', osp.join(REPO, 'tools/benchmarks', script), *args],
                          capture_output=True, text=True, env=full_env, timeout=900, cwd=cwd)


def voc_roots(root):
    return [f'train_dataloader.dataset.datasets.0.data_root={root}',
            f'train_dataloader.dataset.datasets.1.data_root={root}',
            f'val_dataloader.dataset.data_root={root}', f'test_dataloader.dataset.data_root={root}']


def coco_roots(root):
    ann = f'{root}annotations/instances_val2017.json'
    return [f'train_dataloader.dataset.data_root={root}',
            f'val_dataloader.dataset.data_root={root}',
            f'test_dataloader.dataset.data_root={root}', f'val_evaluator.ann_file={ann}',
            f'test_evaluator.ann_file={ann}']


@pytest.mark.parametrize('script', ['voc_det.sh', 'coco_det.sh', 'cityscapes_det.sh',
                                    'lvis_det.sh'])
def test_scripts_print_usage_without_arguments(script):
    proc = run_script(script)
    assert proc.returncode == 2 and f'tools/benchmarks/{script} CKPT' in proc.stderr


def test_coco_det_refuses_unknown_variant(r50_checkpoint, tmp_path):
    proc = run_script('coco_det.sh', r50_checkpoint, 'c4', '2x', cwd=tmp_path)
    assert proc.returncode == 2 and 'no COCO benchmark for c4 2x' in proc.stderr
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize('script,module', [('lvis_det.sh', 'lvis'),
                                           ('cityscapes_det.sh', 'cityscapesscripts')])
def test_metric_dependency_is_checked_first(script, module, r50_checkpoint, tmp_path):
    probe = subprocess.run([PYTHON, '-c', f'import {module}'], capture_output=True)
    if probe.returncode == 0:
        pytest.skip(f'{module} is installed here')
    proc = run_script(script, r50_checkpoint, '--work-dir', str(tmp_path / 'work'), cwd=tmp_path)
    assert proc.returncode == 2 and f'pip install {module}' in proc.stderr
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize('script,args', [('voc_det.sh', []), ('coco_det.sh', ['c4']),
                                         ('coco_det.sh', [])])
def test_detection_bad_inputs_fail_before_writing(script, args, r50_checkpoint, tmp_path):
    work = tmp_path / 'work'
    proc = run_script(script, str(tmp_path / 'absent.pth'), *args, cwd=tmp_path)
    assert proc.returncode != 0 and 'checkpoint not found' in proc.stderr
    assert str(tmp_path / 'absent.pth') in proc.stderr
    # the default roots (data/VOCdevkit/, data/coco/) are relative to the (empty) cwd
    proc = run_script(script, r50_checkpoint, *args, '--work-dir', str(work), cwd=tmp_path)
    assert proc.returncode != 0 and 'dataset root(s) not found' in proc.stderr
    assert ('data/VOCdevkit/' if script == 'voc_det.sh' else 'data/coco/') in proc.stderr
    assert not work.exists() and os.listdir(tmp_path) == []


def test_voc_det_refuses_checkpoint_without_res5_before_writing(r50_checkpoint, demo_root,
                                                                tmp_path):
    """Real demo data, a checkpoint missing res5: the C4 shared head would stay random ->
    IncompleteLoadingError naming it; the work dir is never created."""
    state = torch.load(r50_checkpoint, weights_only=False)['state_dict']
    torch.save({'state_dict': {k: v for k, v in state.items() if 'layer4' not in k}},
               tmp_path / 'no_res5.pth')
    work = tmp_path / 'work'
    proc = run_script('voc_det.sh', str(tmp_path / 'no_res5.pth'), '--work-dir', str(work),
                      '--cfg-options', *voc_roots(f'{demo_root}/VOCdevkit/'), cwd=tmp_path)
    assert proc.returncode != 0 and 'IncompleteLoadingError' in proc.stderr
    assert 'roi_head.shared_head' in proc.stderr and 'layer4.0.conv1.weight' in proc.stderr
    assert not work.exists()


# ------------------------------------------------------------------------- end to end
@pytest.fixture(scope='module')
def demo_pretraining(demo_root, tmp_path_factory):
    """A checkpoint of a real (tiny) MoCo v2 ResNet-18 pretraining run on the demo images."""
    work = tmp_path_factory.mktemp('pre')
    run_train(TINY['mocov2'], work, *data_opts(demo_root), 'train_cfg.max_epochs=1')
    return str(work / 'epoch_1.pth')


def check_run(proc, work, benchmark, keys, parts):
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout + proc.stderr
    for part in parts:
        assert f'complete loading verified: {part}' in out
    assert 'SyncBN layers are reverted to BN' in out
    result = json.load(open(work / 'metrics.json'))
    assert result['benchmark'] == benchmark
    metrics = result['metrics']
    assert set(keys) <= set(metrics), (sorted(metrics), proc.stdout[-2000:])
    for key in keys:
        assert 0 <= metrics[key] <= 1, (key, metrics[key])
    assert (work / 'pretrained_backbone.pth').exists()
    assert 'RESULT ' in proc.stdout
    return metrics


@pytest.mark.slow
def test_voc_det_end_to_end_from_demo_pretraining(demo_pretraining, demo_root, tmp_path):
    """voc_det.sh with the demo C4 config (ResNet-18) on the demo VOC07+12 devkits: loads backbone
    and res5 head, trains a few iterations, tests on VOC2007 test, writes metrics.json."""
    work = tmp_path / 'voc'
    proc = run_script('voc_det.sh', demo_pretraining, '--work-dir', str(work), '--cfg-options',
                      *voc_roots(f'{demo_root}/VOCdevkit/'), 'train_cfg.max_iters=4',
                      'train_cfg.val_interval=4', env=dict(CONFIG=DEMO_VOC))
    metrics = check_run(proc, work, osp.splitext(osp.basename(DEMO_VOC))[0],
                        ['pascal_voc/mAP', 'pascal_voc/AP50', 'pascal_voc/AP75'],
                        ['backbone', 'roi_head.shared_head'])
    assert sorted(k for k in metrics if k.startswith('pascal_voc/AP')) == [
        f'pascal_voc/AP{t}' for t in range(50, 100, 5)]


@pytest.mark.slow
def test_coco_det_end_to_end_from_demo_pretraining(demo_pretraining, demo_root, tmp_path):
    """coco_det.sh with the demo Mask R-CNN FPN config (ResNet-18) on the demo COCO json: trains
    a few iterations, evaluates bbox + segm AP, writes metrics.json."""
    work = tmp_path / 'coco'
    proc = run_script('coco_det.sh', demo_pretraining, '--work-dir', str(work), '--cfg-options',
                      *coco_roots(f'{demo_root}/coco/'), 'train_cfg.max_iters=4',
                      'train_cfg.val_interval=4',
                      # after 4 steps every foreground score may underflow to 0 (nothing
                      # detected -> CocoMetric returns no keys): keep every box for the smoke run
                      'model.test_cfg.rcnn.score_thr=-1', env=dict(CONFIG=DEMO_COCO))
    check_run(proc, work, osp.splitext(osp.basename(DEMO_COCO))[0],
              [f'coco/{t}_mAP{s}' for t in ('bbox', 'segm') for s in ('', '_50', '_75')],
              ['backbone'])
