"""DDP on CPU (gloo, 2 processes through tools/dist_train.sh) equals one process."""
import os
import os.path as osp
import socket
import subprocess

import pytest
import torch

from utils import PYTHON, REPO, data_opts, losses_by_iter, run_train

CONFIG = osp.join(REPO, 'tests/configs/mocov2_r18gn_deterministic.py')


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def dist_train(work_dir, *args):
    env = dict(os.environ, PORT=str(free_port()), PYTHON=PYTHON, OMP_NUM_THREADS='1',
               PYTHONPATH=REPO)
    proc = subprocess.run(['bash', osp.join(REPO, 'tools/dist_train.sh'), CONFIG, '2',
                           '--work-dir', str(work_dir), *args],
                          capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + '\n---- stderr ----\n' + proc.stderr[-3000:]
    return proc


def state(path):
    return torch.load(path, map_location='cpu', weights_only=False)['state_dict']


@pytest.mark.slow
def test_two_gloo_processes_match_one_process(demo_root, tmp_path):
    """Per-process batch 4 on 2 ranks vs batch 8 on 1: same global batches, same losses, same
    weights (DDP averages the gradients; the queue holds the same keys in another order)."""
    run_train(CONFIG, tmp_path / 'single', *data_opts(demo_root))
    proc = dist_train(tmp_path / 'ddp', '--cfg-options', *data_opts(demo_root),
                      'train_dataloader.batch_size=4')
    assert 'gloo' in proc.stdout + proc.stderr

    single, ddp = losses_by_iter(tmp_path / 'single'), losses_by_iter(tmp_path / 'ddp')
    assert sorted(single) == sorted(ddp) == list(range(1, 9))
    for it in single:
        assert ddp[it] == pytest.approx(single[it], rel=1e-4), it

    a, b = state(tmp_path / 'single/epoch_2.pth'), state(tmp_path / 'ddp/epoch_2.pth')
    for k in a:
        if k == 'queue.queue':  # same columns, enqueued in rank order: compare as sets
            qa, qb = a[k], b[k]
            order_a = torch.argsort(qa[0]) if qa.shape[1] else None
            torch.testing.assert_close(qa[:, order_a], qb[:, torch.argsort(qb[0])],
                                       rtol=1e-3, atol=1e-4)
        else:
            torch.testing.assert_close(a[k], b[k], rtol=1e-3, atol=1e-4, msg=k)


@pytest.mark.slow
def test_dist_train_resume_auto(demo_root, tmp_path):
    dist_train(tmp_path, '--cfg-options', *data_opts(demo_root), 'train_dataloader.batch_size=4',
               'train_cfg.max_epochs=1')
    dist_train(tmp_path, '--resume', 'auto', '--cfg-options', *data_opts(demo_root),
               'train_dataloader.batch_size=4', 'train_cfg.max_epochs=2')
    assert (tmp_path / 'epoch_2.pth').exists()
    assert sorted(losses_by_iter(tmp_path)) == list(range(1, 9))
