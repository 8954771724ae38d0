"""PreciseBN (densepre's ``PreciseBNHook``) on mmdet's real training loader
(AspectRatioBatchSampler): the recomputed BN statistics are the plain average of the per-batch
statistics (brute force)."""
import os
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from densepre.transfer.precise_bn import PreciseBNHook
from utils import REPO

DEMO_VOC = osp.join(REPO, 'configs/demo/faster-rcnn_r18-c4_1xb2-ms-200it_demo-voc0712.py')
BENCHMARKS = [osp.join(REPO, 'configs/benchmarks/mmdetection', p) for p in (
    'voc0712/faster-rcnn_r50-c4_ms-24k_voc0712.py', 'coco/mask-rcnn_r50-c4_ms-1x_coco.py',
    'coco/mask-rcnn_r50_fpn_ms-1x_coco.py', 'coco/mask-rcnn_r50_fpn_ms-2x_coco.py')]


@pytest.mark.parametrize('path', BENCHMARKS, ids=lambda p: osp.basename(p))
def test_moco_protocol_configs_enable_precise_bn_with_detectron2s_200_batches(path):
    hooks = Config.fromfile(path).custom_hooks
    assert [h for h in hooks if h.type == 'PreciseBNHook'] == [
        dict(type='PreciseBNHook', _scope_='densepre', num_iters=200)]


def test_precise_bn_hook_is_registered_under_densepres_scope():
    """The name resolves to densepre's hook, not mmpretrain's namesake (other arguments), from
    densepre's scope (without importing densepre.transfer first) and from mmdet's via
    ``_scope_``; the mmdet scope is left as it was."""
    import subprocess
    import sys
    code = '''
import sys
from mmengine.registry import HOOKS, DefaultScope
from densepre.utils import register_all_modules
register_all_modules()
assert 'densepre.transfer' not in sys.modules
print(type(HOOKS.build(dict(type='PreciseBNHook', num_iters=3))).__module__)
from densepre.transfer.downstream import register_scope
register_scope('mmdet')
DefaultScope.get_instance('mmdet-test', scope_name='mmdet')
print(type(HOOKS.build(dict(type='PreciseBNHook', _scope_='densepre', num_iters=3))).__module__)
print(DefaultScope.get_current_instance().scope_name)
'''
    out = subprocess.run([sys.executable, '-c', code], cwd=REPO, capture_output=True, text=True,
                         env={**os.environ, 'PYTHONPATH': REPO})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ['densepre.transfer.precise_bn'] * 2 + ['mmdet']


def test_precise_bn_recomputes_the_detector_statistics(demo_root, tmp_path):
    from densepre.engine.runner import DenseRunner
    from densepre.transfer.downstream import register_scope
    root = f'{demo_root}/VOCdevkit/'
    cfg = Config.fromfile(DEMO_VOC)
    cfg.merge_from_dict({
        'train_dataloader.dataset.datasets.0.data_root': root,
        'train_dataloader.dataset.datasets.1.data_root': root,
        'val_dataloader.dataset.data_root': root, 'test_dataloader.dataset.data_root': root,
        'train_dataloader.num_workers': 0, 'train_dataloader.persistent_workers': False,
        'work_dir': str(tmp_path / 'work')})
    register_scope('mmdet')
    runner = DenseRunner.from_cfg(cfg)
    loader = runner.train_dataloader
    assert loader.batch_size is None and type(loader.batch_sampler).__name__ == \
        'AspectRatioBatchSampler'  # what breaks mmpretrain's PreciseBNHook
    model = runner.model
    layers = {'backbone.bn1': model.backbone.bn1,
              'roi_head.shared_head.norm': model.roi_head.shared_head.norm}
    before = {n: (bn.running_mean.clone(), bn.running_var.clone()) for n, bn in layers.items()}
    seen = {n: [] for n in layers}

    def capture(name):
        def hook(module, inputs, output):
            x = inputs[0].detach().double()
            seen[name].append((x.mean(dim=(0, 2, 3)), x.transpose(0, 1).flatten(1).var(dim=1)))
        return hook

    handles = [bn.register_forward_hook(capture(n)) for n, bn in layers.items()]
    momenta = {n: bn.momentum for n, bn in layers.items()}
    try:
        count = PreciseBNHook(num_iters=3).recompute(runner)
    finally:
        for h in handles:
            h.remove()
    assert count == sum(isinstance(m, torch.nn.modules.batchnorm._BatchNorm)
                        for m in model.modules())
    for name, bn in layers.items():
        assert len(seen[name]) == 3
        mean = torch.stack([m for m, _ in seen[name]]).mean(0)
        var = torch.stack([v for _, v in seen[name]]).mean(0)
        torch.testing.assert_close(bn.running_mean.double(), mean, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(bn.running_var.double(), var, rtol=1e-4, atol=1e-5)
        assert not torch.allclose(bn.running_mean, before[name][0])
        assert bn.momentum == momenta[name]
    assert model.training


def test_precise_bn_runs_after_the_last_iteration(demo_root, tmp_path):
    """Through the Runner: the hook fires once, after the last training iteration."""
    from densepre.engine.runner import DenseRunner
    from densepre.transfer.downstream import register_scope
    root = f'{demo_root}/VOCdevkit/'
    cfg = Config.fromfile(DEMO_VOC)
    cfg.merge_from_dict({
        'train_dataloader.dataset.datasets.0.data_root': root,
        'train_dataloader.dataset.datasets.1.data_root': root,
        'val_dataloader.dataset.data_root': root, 'test_dataloader.dataset.data_root': root,
        'train_dataloader.num_workers': 0, 'train_dataloader.persistent_workers': False,
        'train_cfg.max_iters': 2, 'train_cfg.val_interval': 100, 'val_cfg': None,
        'val_dataloader': None, 'val_evaluator': None, 'work_dir': str(tmp_path / 'work')})
    cfg.custom_hooks = [dict(type='PreciseBNHook', _scope_='densepre', num_iters=2)]
    register_scope('mmdet')
    runner = DenseRunner.from_cfg(cfg)
    calls = []
    hook = [h for h in runner.hooks if isinstance(h, PreciseBNHook)][0]
    original = hook.recompute
    hook.recompute = lambda r: calls.append(r.iter) or original(r)
    runner.train()
    assert calls == [1]  # 0-based iteration index of the last of 2 iterations
