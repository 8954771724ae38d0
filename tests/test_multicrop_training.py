"""Multi-crop MoCo v2 and BYOL through tools/train.py and the Runner on the demo data: training,
logged fallback crops, exact resume after a kill."""
import math
import os.path as osp

import pytest
import torch

from utils import REPO, data_opts, derived_config, logged_scalars, losses_by_iter, run_train

MC = {
    'mocov2-mc': osp.join(REPO, 'tests/configs/mocov2-mc_r18_tiny.py'),
    'byol-mc': osp.join(REPO, 'tests/configs/byol-mc_r18_tiny.py'),
}


def load(path):
    return torch.load(path, map_location='cpu', weights_only=False)


def test_mocov2_multicrop_epoch_logs_fallback_crops(demo_root, tmp_path):
    """One epoch of the shipped multi-crop layout (scaled down) with the small crops constrained
    to overlap the key by half their area in one try: the fallbacks are counted in the log."""
    cfg = derived_config(tmp_path, MC['mocov2-mc'], """
large = [dict(type='GeoRandomResizedCrop', scale=32, crop_ratio_range=(0.2, 1.)),
         dict(type='RandomFlip', prob=0.5)]
small = [dict(type='GeoRandomResizedCrop', scale=16, crop_ratio_range=(0.05, 0.14),
              min_overlap=0.5, overlap_tries=1), dict(type='RandomFlip', prob=0.5)]
train_dataloader = dict(dataset=dict(pipeline=[
    dict(type='LoadImageRobust'),
    dict(type='GeoMultiView', views=[
        dict(num=1, name='query', transforms=large),
        dict(num=1, name='key', transforms=large),
        dict(num=4, name='local', overlap_with=1, transforms=small),
    ]),
    dict(type='PackInputs', algorithm_keys=['view_geometry', 'view_groups']),
]))""")
    run_train(cfg, tmp_path / 'work', *data_opts(demo_root), 'train_cfg.max_epochs=1')
    recs = [r for r in logged_scalars(tmp_path / 'work') if 'crop_fallbacks' in r]
    assert len(recs) == 8 and all(math.isfinite(r['loss']) for r in recs)
    counts = [r['crop_fallbacks'] for r in recs]
    assert all(c == int(c) and 0 <= c <= 16 for c in counts)  # 4 images x 4 small crops
    assert sum(counts) > 0


@pytest.mark.slow
@pytest.mark.parametrize('name', sorted(MC))
def test_multicrop_resume_after_kill_matches_uninterrupted_run(name, demo_root, tmp_path):
    """Shipped multi-crop configs (tiny variants): kill in epoch 2, resume from epoch 1 — the
    epoch-2 losses and the final weights, queue (contents and pointer) and EMA teacher equal
    those of an uninterrupted run."""
    full, crashed = tmp_path / 'full', tmp_path / 'crashed'
    run_train(MC[name], full, *data_opts(demo_root))
    crash_cfg = derived_config(tmp_path, MC[name],
                               "custom_imports = dict(imports=['crash_hooks'])\n"
                               "custom_hooks = [dict(type='GlobalLossLogHook'), "
                               "dict(type='FiniteLossHook'), "
                               "dict(type='KillAfterIterHook', at_iter=11)]", 'crash.py')
    proc = run_train(crash_cfg, crashed, *data_opts(demo_root), check=False)
    assert proc.returncode == -9
    assert (crashed / 'epoch_1.pth').exists() and not (crashed / 'epoch_2.pth').exists()
    run_train(MC[name], crashed, *data_opts(demo_root), extra_args=['--resume'])

    ref, got = losses_by_iter(full), losses_by_iter(crashed)
    assert sorted(ref) == sorted(got) == list(range(1, 17))
    for it in range(9, 17):
        assert got[it] == pytest.approx(ref[it], rel=1e-5, abs=1e-6), it
    a, b = load(full / 'epoch_2.pth')['state_dict'], load(crashed / 'epoch_2.pth')['state_dict']
    assert a.keys() == b.keys()
    stateful = [k for k in a if k.startswith(('queue.', 'encoder_k', 'target_net'))]
    assert stateful
    if name == 'mocov2-mc':
        assert int(a['queue.ptr']) == int(b['queue.ptr']) == (16 * 4) % 64
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-4, atol=1e-5, msg=k)


def test_multicrop_benchmark_runs_batched_vs_per_crop(capsys):
    """The benchmark of docs/benchmarks.md (multi-crop section) on the tiny config: per-size
    batched passes (A) vs one pass per crop (B) of the same model, ratio in one run."""
    import sys
    sys.path.insert(0, osp.join(REPO, 'tools', 'analysis_tools'))
    import benchmark_train_step as bts
    out = bts.main([MC['byol-mc'], '--vs', MC['byol-mc'], '--vs-cfg-options',
                    'model.batch_views=False', '--batch', '2', '--iters', '2', '--warmup', '1',
                    '--mem', 'none'])
    a, b = out['results']
    assert a['input_shapes'] == b['input_shapes'] == [[2, 3, 32, 32]] * 2 + [[2, 3, 16, 16]] * 3
    assert out['ratio_b_over_a'] > 0 and math.isfinite(a['last_loss'])
