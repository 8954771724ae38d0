"""Every config under configs/ builds: model, train pipeline and optimizer wrapper."""
import glob
import os.path as osp

import pytest
import torch
from mmcv.transforms import Compose
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper

from densepre.registry import MODELS
from utils import REPO

CONFIGS = sorted(
    p for p in glob.glob(osp.join(REPO, 'configs', '**', '*.py'), recursive=True)
    if '/_base_/' not in p)


SCOPES = {p: Config.fromfile(p).get('default_scope') for p in CONFIGS}


#: ViT-L/H pretraining models (0.6-1.3 G parameters with their EMA teacher) are built on the meta
#: device: same modules, parameter groups and checks, without allocating ~8 GB in the test process.
ON_META = ('vit-l16', 'vit-h16')


def pretrain_configs():
    return [p for p in CONFIGS if SCOPES[p] == 'densepre']


def cpu_optim_wrapper_cfg(cfg):
    """The optimizer wrapper as DenseRunner builds it on a CPU machine (AMP -> fp32)."""
    ow = dict(cfg.optim_wrapper)
    if ow.get('type') == 'AmpOptimWrapper' and not torch.cuda.is_available():
        ow = {k: v for k, v in ow.items() if k not in ('loss_scale', 'dtype')}
        ow['type'] = 'OptimWrapper'
    return ow


def test_configs_found():
    assert len(CONFIGS) >= 7
    for required in ('mocov2/mocov2_r50_8xb32_200e.py', 'byol/byol_r50_8xb64_200e.py'):
        assert osp.join(REPO, 'configs', required) in CONFIGS


@pytest.mark.parametrize('path', pretrain_configs(), ids=lambda p: osp.relpath(p, REPO))
def test_pretrain_config_builds(path):
    cfg = Config.fromfile(path)
    assert cfg.get('auto_scale_lr', {}).get('base_batch_size'), \
        f'{path}: every pretraining config must set auto_scale_lr.base_batch_size'
    with torch.device('meta' if any(a in osp.basename(path) for a in ON_META) else 'cpu'):
        model = MODELS.build(cfg.model)
    pipeline = Compose(cfg.train_dataloader.dataset.pipeline)
    assert pipeline.transforms
    optim = build_optim_wrapper(model, cpu_optim_wrapper_cfg(cfg))
    in_optim = {id(p) for g in optim.optimizer.param_groups for p in g['params']}
    trainable = {id(p) for p in model.parameters() if p.requires_grad}
    assert trainable and trainable <= in_optim


def downstream_configs():
    return [p for p in CONFIGS if SCOPES[p] != 'densepre']


@pytest.mark.parametrize('path', downstream_configs(), ids=lambda p: osp.relpath(p, REPO))
def test_downstream_config_builds(path):
    """mmseg / mmdet / mmpretrain configs: model, train pipeline and optimizer in their scope."""
    import importlib

    from mmengine.registry import MODELS as ROOT_MODELS
    from mmengine.registry import TRANSFORMS as ROOT_TRANSFORMS
    from mmengine.registry import DefaultScope
    cfg = Config.fromfile(path)
    scope = cfg.default_scope
    assert scope in ('mmseg', 'mmdet', 'mmpretrain'), f'{path}: unexpected scope {scope}'
    importlib.import_module(f'{scope}.utils').register_all_modules(init_default_scope=False)
    assert cfg.model.get('pretrained') is None, f'{path}: model.pretrained clashes with init_cfg'
    with DefaultScope.overwrite_default_scope(scope):
        model = ROOT_MODELS.build(cfg.model)
        ds = cfg.train_dataloader.dataset
        while 'pipeline' not in ds:
            ds = ds['datasets'][0] if 'datasets' in ds else ds['dataset']
        assert [ROOT_TRANSFORMS.build(t) for t in ds.pipeline]
        build_optim_wrapper(model, cpu_optim_wrapper_cfg(cfg))


def test_every_config_is_built_by_a_test():
    assert set(pretrain_configs()) | set(downstream_configs()) == set(CONFIGS)
