"""torch.compile of the networks (densepre/engine/compile.py) through the `compile` config key,
and tools/analysis_tools/compile_check.py (graph breaks, loss equality, step-time ratio). The
Dynamo tracing is checked with backend='eager' (fast); the inductor figures are in
docs/benchmarks.md."""
import os.path as osp
import sys
import tempfile

import pytest
import torch
from mmengine.config import Config

from densepre.engine.compile import compilable_parts, compile_cfg_of, compile_parts
from densepre.registry import MODELS

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, osp.join(REPO, 'tools', 'analysis_tools'))
import compile_check  # noqa: E402

sys.path.pop(0)

CONFIGS = {
    'byol': 'tests/configs/byol_r18_tiny.py',
    'mocov2': 'tests/configs/mocov2_r18_tiny.py',
    'lewel_b': 'tests/configs/lewel_b_r18_tiny.py',
    'lewel_m': 'tests/configs/lewel_m_r18_tiny.py',
    'knn-moco': 'tests/configs/knn-mocov2_r18_tiny.py',
    'clove': 'configs/demo/clove_r18_1xb32-64px-40e_demo.py',
    'loca': 'tests/configs/loca_vit_tiny.py',
}


def test_parts_are_the_networks_not_the_teacher():
    model = MODELS.build(Config.fromfile(osp.join(REPO, CONFIGS['byol'])).model)
    assert compilable_parts(model) == ['backbone', 'neck', 'head.predictor']
    names = compile_parts(model, dict(backend='eager'))
    assert names == ['backbone', 'neck', 'head.predictor']
    assert model.backbone._compiled_call_impl is not None
    assert model.target_net.module['backbone']._compiled_call_impl is None
    # in place: checkpoints keep their keys
    assert not any('_orig_mod' in k for k in model.state_dict())


def test_compile_config_values():
    assert compile_cfg_of(None) is None and compile_cfg_of(False) is None
    assert compile_cfg_of(True) == {} and compile_cfg_of(dict(mode='x')) == dict(mode='x')
    with pytest.raises(ValueError, match='`compile` must be a bool or a dict'):
        compile_cfg_of('inductor')


def check(name):
    args = compile_check.parse_args([osp.join(REPO, CONFIGS[name]), '--backend', 'eager',
                                     '--batch', '4', '--steps', '1', '--warmup', '1'])
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmpdir:
        args.tmpdir = tmpdir
        return compile_check.run(args)


def test_byol_compiles_without_graph_breaks_and_same_loss():
    result = check('byol')
    assert result['works'], result.get('reason')
    assert result['graph_breaks'] == 0 and result['unique_graphs'] >= 3
    assert abs(result['first_loss_abs_diff']) <= 1e-5 * abs(result['first_loss_eager'])


@pytest.mark.slow
@pytest.mark.parametrize('name', [n for n in CONFIGS if n != 'byol'])
def test_every_method_compiles(name):
    result = check(name)
    assert result['works'], result.get('reason')
    assert abs(result['first_loss_abs_diff']) <= 1e-4 * max(1., abs(result['first_loss_eager']))


def test_compile_key_through_the_runner(demo_root, tmp_path):
    """config `compile=dict(backend='eager')` -> DenseRunner compiles the networks and trains."""
    from utils import TINY, data_opts, losses_by_iter, run_train
    proc = run_train(TINY['mocov2'], tmp_path, *data_opts(demo_root), 'train_cfg.max_epochs=1',
                     'compile.backend=eager')
    assert 'torch.compile: backbone, neck' in proc.stdout + proc.stderr
    assert len(losses_by_iter(tmp_path)) == 8
