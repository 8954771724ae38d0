"""The train-step and data-pipeline benchmarks run end to end on tiny settings (R18, 32 px)."""
import json
import math
import os.path as osp
import sys

import pytest
from mmengine.config import Config

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, osp.join(REPO, 'tools', 'analysis_tools'))

import benchmark_data_pipeline as bdp  # noqa: E402
import benchmark_train_step as bts  # noqa: E402

MOCO = osp.join(REPO, 'configs/mocov2/mocov2_r50_8xb32_200e.py')
BYOL = osp.join(REPO, 'configs/byol/byol_r50_8xb64_200e.py')
R18 = ['--cfg-options', 'model.backbone.depth=18', 'model.neck.in_channels=512']
TINY = ['--batch', '2', '--iters', '2', '--warmup', '1', '--mem-iters', '1', '--size', '32',
        '--threads', '1']


def _positive(x) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x) and x > 0


def test_train_step_vs(tmp_path, capsys):
    out_file = tmp_path / 'bench.json'
    out = bts.main([MOCO, '--vs', BYOL, *TINY, '--mem', 'none', '--json', str(out_file), *R18])
    text = capsys.readouterr().out
    for field in ('median ms', 'mean ms', 'images/s', 'peak RSS MB', 'ratio B/A',
                  'mocov2_r50_8xb32_200e', 'byol_r50_8xb64_200e', 'threads 1'):
        assert field in text, field
    assert json.loads(out_file.read_text()) == json.loads(json.dumps(out))

    for key in ('ratio_b_over_a', 'ratio_b_over_a_mean', 'ratio_b_over_a_min',
                'ratio_b_over_a_paired', 'ratio_b_over_a_cpu'):
        assert _positive(out[key]), (key, out[key])
    a, b = out['results']
    assert out['ratio_b_over_a'] == pytest.approx(b['median_ms'] / a['median_ms'], rel=1e-3)
    for r in (a, b):
        assert r['steps'] == 2 and len(r['step_times_ms']) == 2
        for key in ('median_ms', 'mean_ms', 'min_ms', 'images_per_s', 'params_m',
                    'median_cpu_ms'):
            assert _positive(r[key]), (key, r[key])
        assert r['images_per_s'] == pytest.approx(2 / (r['median_ms'] / 1e3), rel=1e-2)
        # --size overrides the first group and the same-size second BYOL group
        assert r['input_shapes'] == [[2, 3, 32, 32], [2, 3, 32, 32]]
    assert a['views'] == '2x32' and b['views'] == '1x32 + 1x32'
    assert b['params_m'] > a['params_m']  # BYOL's predictor + larger projector


def test_train_step_peak_memory(capsys):
    """Peak RSS comes from a fresh subprocess running the CLI (``--_mem-probe``)."""
    out = bts.main([MOCO, *TINY, '--iters', '1', '--warmup', '0', *R18])
    text = capsys.readouterr().out
    assert 'peak RSS' in text and 'ratio B/A' not in text
    mem = out['results'][0]['memory']
    for key in ('peak_rss_mb', 'peak_delta_mb', 'build_delta_mb', 'baseline_mb'):
        assert _positive(mem[key]), (key, mem[key])
    assert mem['peak_rss_mb'] == pytest.approx(mem['baseline_mb'] + mem['peak_delta_mb'], abs=0.2)
    # ResNet-18 + MoCo v2 neck, its EMA copy and the 65536 x 128 queue: > 100 MB of fp32
    assert mem['build_delta_mb'] > 100


def test_train_step_demo_data(capsys):
    out = bts.main([BYOL, '--data', 'demo', '--demo-image-size', '32', '--mem', 'none',
                    '--batch', '2', '--iters', '1', '--warmup', '0', '--size', '32',
                    '--threads', '1', *R18])
    (r, ) = out['results']
    assert 'ratio_b_over_a' not in out and 'memory' not in r
    assert r['input_shapes'] == [[2, 3, 32, 32], [2, 3, 32, 32]]
    assert _positive(r['median_ms']) and math.isfinite(r['last_loss'])


def test_view_spec_size_override():
    views = [
        dict(num=2, transforms=[dict(type='GeoRandomResizedCrop', scale=224)]),
        dict(num=4, overlap_with=0,
             transforms=[dict(type='GeoRandomResizedCrop', scale=96, min_overlap=0.2)]),
    ]
    cfg = Config(dict(train_dataloader=dict(dataset=dict(pipeline=[
        dict(type='LoadImageRobust'), dict(type='GeoMultiView', views=views),
        dict(type='PackInputs', algorithm_keys=['view_geometry'])]))))
    assert bts.view_spec(cfg) == [(2, (224, 224)), (4, (96, 96))]
    assert bts.view_spec(cfg, 160) == [(2, (160, 160)), (4, (96, 96))]
    # the override is written into the pipeline (used by --data demo)
    assert cfg.train_dataloader.dataset.pipeline[1].views[0].transforms[0].scale == 160

    notes = []
    plain = bdp.mmpretrain_pipeline(cfg.train_dataloader.dataset.pipeline, notes)
    assert [t['type'] for t in plain] == [
        'mmcv.LoadImageFromFile', 'mmpretrain.MultiView', 'PackInputs']
    assert plain[1]['num_views'] == [2, 4]
    assert plain[1]['transforms'][1] == [dict(type='mmpretrain.RandomResizedCrop', scale=96)]
    assert plain[2]['algorithm_keys'] == []
    assert any('overlap_with' in n for n in notes)


def test_data_pipeline_vs_mmpretrain(tmp_path, capsys):
    out_file = tmp_path / 'pipe.json'
    out = bdp.main([MOCO, '--vs-mmpretrain', '--n', '4', '--chunk', '2', '--warmup', '1',
                    '--check', '2', '--num-images', '4', '--image-size', '32', '--size', '32',
                    '--json', str(out_file)])
    text = capsys.readouterr().out
    for field in ('images/s', 'densepre (config)', 'mmpretrain MultiView',
                  'ratio densepre/mmpretrain'):
        assert field in text, field
    assert json.loads(out_file.read_text())['ratio'] == out['ratio']
    for key in ('ratio', 'ratio_total', 'ratio_of_medians', 'time_ratio', 'ratio_cpu'):
        assert _positive(out[key]), (key, out[key])
    assert out['same_views'] is True  # same seed -> identical crops/augmentations
    a, b = out['results']
    assert a['transforms'] == ['LoadImageRobust', 'GeoMultiView', 'PackInputs']
    assert b['transforms'] == ['LoadImageFromFile', 'MultiView', 'PackInputs']
    for r in (a, b):
        assert r['images'] == 4 and r['views_per_image'] == 2
        for key in ('images_per_s', 'views_per_s', 'images_per_cpu_s', 'ms_per_image'):
            assert _positive(r[key]), (key, r[key])
    assert out['ratio_of_medians'] == pytest.approx(
        a['median_chunk_images_per_s'] / b['median_chunk_images_per_s'], rel=1e-2)
    assert out['ratio_total'] == pytest.approx(a['images_per_s'] / b['images_per_s'], rel=1e-2)
