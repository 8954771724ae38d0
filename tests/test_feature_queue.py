"""FeatureQueue: FIFO against a brute-force list, aligned side-queues, kNN against sorting,
checkpoint round trip, clear batch-size error, all_gather enqueue over 2 gloo processes."""
import os
import socket

import pytest
import torch
import torch.nn.functional as F

from densepre.models.utils import FeatureQueue
from densepre.registry import MODELS


def reference_fifo(init, batches, length):
    """Column j of the queue after enqueuing ``batches`` into ``init``: plain list arithmetic."""
    cols = [init[:, j].clone() for j in range(length)]
    ptr = 0
    for b in batches:
        for row in b:
            cols[ptr] = row.clone()
            ptr = (ptr + 1) % length
    return torch.stack(cols, dim=1), ptr


def test_fifo_and_side_queues_match_brute_force():
    torch.manual_seed(0)
    q = MODELS.build(dict(type='FeatureQueue', length=12, dim=5, side_queues=dict(backbone=3)))
    init = q.queue.clone()
    assert torch.allclose(init.norm(dim=0), torch.ones(12))
    batches = [torch.randn(4, 5) for _ in range(7)]  # wraps around twice
    sides = [torch.randn(4, 3) for _ in range(7)]
    for i, (b, s) in enumerate(zip(batches, sides)):
        q.enqueue(b, backbone=s)
        ref, ptr = reference_fifo(init, batches[:i + 1], 12)
        assert torch.equal(q.queue, ref) and int(q.ptr) == ptr
        assert int(q.filled) == min(12, 4 * (i + 1))
    side_ref, _ = reference_fifo(torch.zeros(3, 12), sides, 12)
    assert torch.equal(q.side('backbone'), side_ref)
    with pytest.raises(KeyError, match='backbone'):
        q.enqueue(torch.randn(4, 5))


def test_knn_matches_sorting_and_searches_only_filled_entries():
    torch.manual_seed(1)
    q = FeatureQueue(16, 4, side_queues=dict(feat=6))
    q.enqueue(torch.randn(8, 4), feat=F.normalize(torch.randn(8, 6), dim=1))
    query = F.normalize(torch.randn(5, 6), dim=1)
    sim, idx = q.knn(query, 3, side='feat')
    full = query @ q.side('feat')[:, :8]  # only the 8 filled columns exist
    for n in range(5):
        order = sorted(range(8), key=lambda j: -float(full[n, j]))[:3]
        assert idx[n].tolist() == order
        torch.testing.assert_close(sim[n], full[n, order])
    assert idx.max() < 8
    with pytest.raises(ValueError, match='k=9 but the queue holds 8'):
        q.knn(query, 9, side='feat')
    sim, idx = q.knn(torch.randn(2, 4), 16)  # main queue: every column
    assert idx.shape == (2, 16) and sorted(idx[0].tolist()) == list(range(16))


def test_batch_not_dividing_the_queue_is_named():
    q = FeatureQueue(10, 4)
    with pytest.raises(ValueError, match=r'queue_len=10.*\(4 = 1 process\(es\) x 4'):
        q.enqueue(torch.randn(4, 4))
    assert int(q.ptr) == 0  # nothing written


def test_checkpoint_round_trip_is_exact(tmp_path):
    torch.manual_seed(2)
    a = FeatureQueue(8, 3, side_queues=dict(b=2))
    for _ in range(3):
        a.enqueue(torch.randn(2, 3), b=torch.randn(2, 2))
    torch.save(a.state_dict(), tmp_path / 'q.pth')
    b = FeatureQueue(8, 3, side_queues=dict(b=2))
    b.load_state_dict(torch.load(tmp_path / 'q.pth'))
    for name, buf in a.state_dict().items():
        assert torch.equal(buf, b.state_dict()[name]), name
    x, s = torch.randn(2, 3), torch.randn(2, 2)
    a.enqueue(x, b=s)
    b.enqueue(x, b=s)
    assert torch.equal(a.queue, b.queue) and int(a.ptr) == int(b.ptr) == 0


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _enqueue_worker(rank, port, out):
    import torch.distributed as dist
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    dist.init_process_group('gloo', rank=rank, world_size=2)
    try:
        torch.manual_seed(0)
        q = FeatureQueue(8, 2, side_queues=dict(s=1))
        feats = torch.full((2, 2), float(rank + 1))
        q.enqueue(feats, s=feats[:, :1] * 10)
        torch.save(q.state_dict(), f'{out}/rank{rank}.pth')
        dist.barrier()
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_enqueue_gathers_every_process(tmp_path):
    """2 gloo processes each enqueue 2 features: both hold the same 4 new columns, rank 0's
    first; the divisibility check counts the global batch."""
    import torch.multiprocessing as mp
    mp.spawn(_enqueue_worker, args=(_free_port(), str(tmp_path)), nprocs=2)
    s0, s1 = (torch.load(tmp_path / f'rank{r}.pth') for r in (0, 1))
    for k in s0:
        assert torch.equal(s0[k], s1[k]), k
    assert s0['queue'][:, :4].tolist() == [[1, 1, 2, 2], [1, 1, 2, 2]]
    assert s0['side_s'][0, :4].tolist() == [10, 10, 20, 20]
    assert int(s0['ptr']) == 4 and int(s0['filled']) == 4
