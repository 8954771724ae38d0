"""Pretraining checkpoints load completely into downstream models, or fail loudly."""
import json
import os
import os.path as osp
import subprocess

import pytest
import torch

from densepre.registry import MODELS
from densepre.transfer import IncompleteLoadingError, extract_backbone
from densepre.transfer.downstream import verify
from utils import PYTHON, REPO, TINY, data_opts, run_train, staged

VOC_FCN = osp.join(REPO, 'configs/benchmarks/mmsegmentation/voc12aug/'
                   'fcn_r50-d8_4xb4-20k_voc12aug-512x512.py')
DEMO_SEG = osp.join(REPO, 'configs/demo/fcn_r18-d8_1xb8-300it_demo-voc-96x96.py')






def test_extracted_backbone_is_weights_only_and_drops_ema(r50_checkpoint, tmp_path):
    out = tmp_path / 'bb.pth'
    state = extract_backbone(r50_checkpoint, str(out))
    assert state and all(k.startswith('backbone.') for k in state)
    loaded = torch.load(out, weights_only=True)['state_dict']
    assert loaded.keys() == state.keys()
    full = torch.load(r50_checkpoint, weights_only=False)['state_dict']
    assert any(k.startswith('encoder_k.') for k in full)


def test_voc_fcn_loads_every_backbone_tensor(r50_checkpoint, tmp_path):
    cfg, pretrained = staged(VOC_FCN, r50_checkpoint, tmp_path)
    report = verify(cfg, pretrained)
    assert report and 'backbone:' in report[0] and 'random by design' not in report[0]


def test_deep_stem_resnetv1c_is_refused_naming_the_stem(r50_checkpoint, tmp_path):
    """mmseg's default backbone (ResNetV1c) would keep its deep stem random."""
    cfg, pretrained = staged(VOC_FCN, r50_checkpoint, tmp_path, **{
        'model.backbone.type': 'ResNetV1c'})
    with pytest.raises(IncompleteLoadingError, match=r'stem\.0\.weight'):
        verify(cfg, pretrained)


def test_vit_checkpoint_into_resnet_config_is_refused(tmp_path):
    vit = MODELS.build(dict(type='VisionTransformer', arch='deit-tiny', img_size=32,
                            patch_size=16))
    path = tmp_path / 'vit.pth'
    torch.save({'state_dict': {'backbone.' + k: v for k, v in vit.state_dict().items()}}, path)
    cfg, pretrained = staged(VOC_FCN, str(path), tmp_path)
    with pytest.raises(IncompleteLoadingError, match='would stay random') as err:
        verify(cfg, pretrained)
    assert 'conv1.weight' in str(err.value) and 'patch_embed' in str(err.value)


def test_checkpoint_without_backbone_prefix_is_refused(r50_checkpoint, tmp_path):
    state = torch.load(r50_checkpoint, weights_only=False)['state_dict']
    bare = {k[len('backbone.'):]: v for k, v in state.items() if k.startswith('backbone.')}
    torch.save(bare, tmp_path / 'bare.pth')
    with pytest.raises(KeyError, match='has no "backbone." keys'):
        extract_backbone(str(tmp_path / 'bare.pth'))


def run_script(script, *args, env=None):
    full_env = dict(os.environ, PYTHON=PYTHON, OMP_NUM_THREADS='1', PYTHONPATH=REPO, **(env or {}))
    return subprocess.run(['bash', osp.join(REPO, script), *args], capture_output=True,
                          text=True, env=full_env, timeout=900)


def voc_roots(voc):
    return [f'train_dataloader.dataset.datasets.0.data_root={voc}',
            f'train_dataloader.dataset.datasets.1.data_root={voc}',
            f'val_dataloader.dataset.data_root={voc}', f'test_dataloader.dataset.data_root={voc}']


def test_voc_seg_bad_inputs_fail_before_writing(r50_checkpoint, demo_root, tmp_path):
    work = tmp_path / 'work'
    proc = run_script('tools/benchmarks/voc_seg.sh', str(tmp_path / 'absent.pth'))
    assert proc.returncode != 0 and 'checkpoint not found' in proc.stderr
    proc = run_script('tools/benchmarks/voc_seg.sh', r50_checkpoint, '--work-dir', str(work),
                      '--cfg-options', f'train_dataloader.dataset.datasets.0.data_root={tmp_path}/x')
    assert proc.returncode != 0 and 'dataset root(s) not found' in proc.stderr
    assert f'{tmp_path}/x' in proc.stderr
    proc = run_script('tools/benchmarks/voc_seg.sh', r50_checkpoint, '--work-dir', str(work),
                      '--cfg-options', *voc_roots(f'{demo_root}/VOCdevkit/VOC2012'),
                      'model.backbone.type=ResNetV1c')
    assert proc.returncode != 0 and 'IncompleteLoadingError' in proc.stderr
    assert 'stem.0.weight' in proc.stderr
    assert not work.exists()


@pytest.mark.slow
def test_voc_seg_end_to_end_from_demo_pretraining(demo_root, tmp_path):
    """voc_seg.sh with the demo FCN config (ResNet-18) on the demo VOC data, from a checkpoint of
    a real (tiny) pretraining run: trains, tests and writes metrics.json."""
    run_train(TINY['mocov2'], tmp_path / 'pre', *data_opts(demo_root), 'train_cfg.max_epochs=1')
    voc = f'{demo_root}/VOCdevkit/VOC2012'
    proc = run_script(
        'tools/benchmarks/voc_seg.sh', str(tmp_path / 'pre/epoch_1.pth'), '--work-dir',
        str(tmp_path / 'seg'), '--cfg-options', f'train_dataloader.dataset.data_root={voc}',
        f'val_dataloader.dataset.data_root={voc}', f'test_dataloader.dataset.data_root={voc}',
        'train_cfg.max_iters=4', 'train_cfg.val_interval=4', env=dict(CONFIG=DEMO_SEG))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'complete loading verified: backbone' in proc.stdout + proc.stderr
    metrics = json.load(open(tmp_path / 'seg/metrics.json'))['metrics']
    assert 0 <= metrics['mIoU'] <= 100
    assert (tmp_path / 'seg/pretrained_backbone.pth').exists()


def test_bn_step_counters_are_not_reported_as_unused(r50_checkpoint, tmp_path):
    """A checkpoint missing one tensor is refused naming it, and the BN num_batches_tracked
    counters (never compared) are not listed as "tensors the model does not have"."""
    state = torch.load(r50_checkpoint, weights_only=False)['state_dict']
    del state['backbone.layer1.0.conv1.weight']
    torch.save({'state_dict': state}, tmp_path / 'cut.pth')
    cfg, pretrained = staged(VOC_FCN, str(tmp_path / 'cut.pth'), tmp_path)
    assert any(k.endswith('num_batches_tracked') for k in pretrained)
    with pytest.raises(IncompleteLoadingError, match=r'layer1\.0\.conv1\.weight') as err:
        verify(cfg, pretrained)
    assert 'does not have' not in str(err.value) and 'num_batches_tracked' not in str(err.value)
