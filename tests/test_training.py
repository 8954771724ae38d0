"""Training through tools/train.py and DenseRunner: steps, exact resume, crashes, bad configs."""
import math
import os.path as osp

import pytest
import torch

from utils import TINY, data_opts, derived_config, losses_by_iter, run_train


def with_hook(tmp_path, algo, hook):
    return derived_config(tmp_path, TINY[algo], "custom_imports = dict(imports=['crash_hooks'])\n"
                          f"custom_hooks = [dict(type='FiniteLossHook'), {hook}]", 'crash.py')


def load(path):
    return torch.load(path, map_location='cpu', weights_only=True)


@pytest.mark.parametrize('algo', ['mocov2', 'byol'])
def test_one_epoch_trains_and_checkpoints(algo, demo_root, tmp_path):
    run_train(TINY[algo], tmp_path, *data_opts(demo_root), 'train_cfg.max_epochs=1')
    losses = losses_by_iter(tmp_path)
    assert len(losses) == 8 and all(math.isfinite(v) for v in losses.values())
    ckpt = load(tmp_path / 'epoch_1.pth')
    assert ckpt['meta']['world_size'] == 1 and 'rng_state' in ckpt['meta']
    assert open(tmp_path / 'last_checkpoint').read().strip().endswith('epoch_1.pth')
    assert not list(tmp_path.glob('*.part'))


@pytest.mark.parametrize('algo', ['mocov2', 'byol'])
def test_resume_after_kill_matches_uninterrupted_run(algo, demo_root, tmp_path):
    """Kill in the middle of epoch 2, resume from epoch 1: the epoch-2 losses and the final
    weights, queue and EMA target equal those of an uninterrupted run."""
    full, crashed = tmp_path / 'full', tmp_path / 'crashed'
    run_train(TINY[algo], full, *data_opts(demo_root))
    crash_cfg = with_hook(tmp_path, algo, "dict(type='KillAfterIterHook', at_iter=11)")
    proc = run_train(crash_cfg, crashed, *data_opts(demo_root), check=False)
    assert proc.returncode == -9  # SIGKILL
    assert (crashed / 'epoch_1.pth').exists() and not (crashed / 'epoch_2.pth').exists()
    assert max(losses_by_iter(crashed)) == 11
    run_train(TINY[algo], crashed, *data_opts(demo_root), extra_args=['--resume'])

    ref, got = losses_by_iter(full), losses_by_iter(crashed)
    assert sorted(ref) == sorted(got) == list(range(1, 17))
    for it in range(9, 17):
        assert got[it] == pytest.approx(ref[it], rel=1e-5, abs=1e-6), it
    a, b = load(full / 'epoch_2.pth')['state_dict'], load(crashed / 'epoch_2.pth')['state_dict']
    assert a.keys() == b.keys()
    stateful = [k for k in a if k.startswith(('queue', 'encoder_k', 'target_net'))]
    assert stateful, 'expected queue / EMA state in the checkpoint'
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-4, atol=1e-5, msg=k)


def test_kill_during_checkpoint_save_keeps_previous_checkpoint(demo_root, tmp_path):
    crash_cfg = with_hook(tmp_path, 'mocov2', "dict(type='KillDuringSaveHook', at_epoch=2)")
    proc = run_train(crash_cfg, tmp_path, *data_opts(demo_root), check=False)
    assert proc.returncode == -9  # SIGKILL
    assert not (tmp_path / 'epoch_2.pth').exists()
    assert (tmp_path / 'epoch_2.pth.part').exists()  # the half-written file is not a checkpoint
    assert open(tmp_path / 'last_checkpoint').read().strip().endswith('epoch_1.pth')
    assert load(tmp_path / 'epoch_1.pth')['meta']['epoch'] == 1
    run_train(TINY['mocov2'], tmp_path, *data_opts(demo_root), extra_args=['--resume', 'auto'])
    assert load(tmp_path / 'epoch_2.pth')['meta']['epoch'] == 2


def test_resume_with_other_world_size_is_refused(demo_root, tmp_path):
    run_train(TINY['mocov2'], tmp_path, *data_opts(demo_root), 'train_cfg.max_epochs=1')
    from densepre.engine.checkpoint_io import DIGEST_KEY, content_digest
    ckpt = load(tmp_path / 'epoch_1.pth')
    ckpt['meta']['world_size'] = 4
    ckpt[DIGEST_KEY] = content_digest(ckpt)  # a deliberate edit, not a corruption
    torch.save(ckpt, tmp_path / 'from_4.pth')
    proc = run_train(TINY['mocov2'], tmp_path / 'resumed', *data_opts(demo_root),
                     extra_args=['--resume', str(tmp_path / 'from_4.pth')], check=False)
    assert proc.returncode != 0
    assert 'world size 4' in proc.stderr and 'this run has 1' in proc.stderr
    assert not list((tmp_path / 'resumed').glob('*.pth'))
    run_train(TINY['mocov2'], tmp_path / 'resumed', *data_opts(demo_root),
              'resume_allow_world_size_change=True',
              extra_args=['--resume', str(tmp_path / 'from_4.pth')])


def test_corrupt_checkpoint_is_named(demo_root, tmp_path):
    bad = tmp_path / 'truncated.pth'
    run_train(TINY['mocov2'], tmp_path, *data_opts(demo_root), 'train_cfg.max_epochs=1')
    data = (tmp_path / 'epoch_1.pth').read_bytes()
    bad.write_bytes(data[:len(data) // 3])
    proc = run_train(TINY['mocov2'], tmp_path / 'r', *data_opts(demo_root),
                     extra_args=['--resume', str(bad)], check=False)
    assert proc.returncode != 0
    assert 'cannot load checkpoint' in proc.stderr and 'truncated.pth' in proc.stderr


def test_nan_loss_stops_naming_iteration_and_term(demo_root, tmp_path):
    proc = run_train(TINY['mocov2'], tmp_path, *data_opts(demo_root), 'model.head.temperature=0.0',
                     check=False)
    assert proc.returncode != 0
    assert 'FloatingPointError' in proc.stderr
    assert 'non-finite loss at iteration 1' in proc.stderr and 'loss=' in proc.stderr
    assert not list(tmp_path.glob('*.pth'))


@pytest.mark.parametrize('option, expected', [
    ('model.backbone.type=ResNett', 'ResNett is not in the'),
    ('model.backbone.deptth=18', "unexpected keyword argument 'deptth'"),
    ('trian_cfg.max_epochs=1', "unknown config key 'trian_cfg'; did you mean 'train_cfg'"),
])
def test_config_errors_name_the_key(option, expected, demo_root, tmp_path):
    proc = run_train(TINY['mocov2'], tmp_path, *data_opts(demo_root), option, check=False)
    assert proc.returncode != 0
    assert expected in proc.stderr, proc.stderr[-2000:]


def test_missing_dataset_root_is_named(tmp_path):
    proc = run_train(TINY['mocov2'], tmp_path,
                     f'train_dataloader.dataset.data_root={tmp_path}/nowhere/', check=False)
    assert proc.returncode != 0
    assert 'ann_file not found' in proc.stderr and 'nowhere' in proc.stderr


def test_missing_config_is_named(tmp_path):
    proc = run_train(osp.join(str(tmp_path), 'nope.py'), tmp_path, check=False)
    assert proc.returncode != 0 and 'config file not found' in proc.stderr
