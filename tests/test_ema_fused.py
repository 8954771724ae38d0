"""The fused EMA teacher update (EMATeacher.update with torch._foreach_*) is bit-identical to the
former per-tensor update, kept here as the reference, and reads no tensor value on the host."""
import copy
import pickle
from math import cos, pi

import pytest
import torch
import torch.nn as nn
from mmengine.logging import MessageHub
from torch.utils._python_dispatch import TorchDispatchMode

from densepre.models.utils.ema import EMATeacher

MAX_ITERS = 7


@pytest.fixture(autouse=True)
def _max_iters():
    MessageHub.get_current_instance().update_info('max_iters', MAX_ITERS)


class CountLocalScalar(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.count = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func is torch.ops.aten._local_scalar_dense.default:
            self.count += 1
        return func(*args, **(kwargs or {}))


def per_tensor_update(teacher, online):
    """The update as it was before the fusion (per tensor, steps read from the tensor)."""
    first = int(teacher.steps) == 0
    average = not first and int(teacher.steps) % teacher.interval == 0
    momentum = None
    if average:
        if teacher.end_momentum is None:
            momentum = teacher.momentum
        else:
            angle = float(pi * teacher.steps.detach().cpu() / float(MAX_ITERS))
            annealing = (cos(angle) + 1) / 2
            momentum = teacher.end_momentum - (teacher.end_momentum - teacher.momentum) * annealing

    def avg(dst, src):
        if teacher.end_momentum is None:
            dst.lerp_(src, momentum)
        else:
            dst.mul_(1 - momentum).add_(src, alpha=momentum)

    for _, dst, src in teacher._pairs(online, buffers=False):
        if first:
            dst.copy_(src)
        elif average:
            avg(dst, src)
    for _, dst, src in teacher._pairs(online, buffers=True):
        if first or teacher.buffers_policy == 'copy' or not dst.is_floating_point():
            dst.copy_(src)
        elif average:
            avg(dst, src)
    teacher.steps += 1


def online_net():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
                        nn.Linear(4 * 4 * 4, 3))
    net[4].double()  # a second dtype group
    return net


def perturb(online, step):
    gen = torch.Generator().manual_seed(100 + step)
    with torch.no_grad():
        for t in list(online.parameters()) + list(online.buffers()):
            if t.is_floating_point():
                t.add_(torch.randn(t.shape, generator=gen, dtype=t.dtype) * 0.1)
            else:
                t.add_(1)


@pytest.mark.parametrize('buffers', ['copy', 'ema', 'eman'])
@pytest.mark.parametrize('end_momentum,interval', [(None, 1), (0., 1), (0., 2)])
def test_fused_update_is_bit_identical(buffers, end_momentum, interval):
    online = online_net()
    fused = EMATeacher(dict(net=online), momentum=0.2, end_momentum=end_momentum,
                       buffers=buffers, interval=interval)
    ref = copy.deepcopy(fused)
    for step in range(6):
        fused.update(dict(net=online))
        per_tensor_update(ref, dict(net=online))
        for a, b in zip(fused.state_dict().values(), ref.state_dict().values()):
            assert a.dtype == b.dtype and torch.equal(a, b), step
        perturb(online, step)
    # not a no-op: the teacher is neither the online net nor its first copy
    assert not torch.equal(fused['net'][0].weight, online[0].weight)


def test_update_reads_no_tensor_value():
    online = online_net()
    teacher = EMATeacher(dict(net=online), momentum=0.2, end_momentum=0., buffers='eman')
    teacher.update(dict(net=online))
    with CountLocalScalar() as counter:
        for _ in range(3):
            teacher.update(dict(net=online))
    assert counter.count == 0
    assert int(teacher.steps) == teacher.step_count() == 4


def test_host_count_follows_external_changes():
    """steps reset in place, loaded from a checkpoint, deep-copied or pickled: the host count
    follows (it is re-read once)."""
    online = online_net()
    teacher = EMATeacher(dict(net=online), momentum=0.2, end_momentum=0.)
    for _ in range(3):
        teacher.update(dict(net=online))
    assert teacher.step_count() == 3
    teacher.steps.zero_()
    assert teacher.step_count() == 0
    state = teacher.state_dict()
    state['steps'] = torch.tensor(5)
    teacher.load_state_dict(state)
    assert teacher.step_count() == 5
    assert copy.deepcopy(teacher).step_count() == 5
    assert pickle.loads(pickle.dumps(teacher)).step_count() == 5
    teacher.to(torch.float64)
    teacher.update(dict(net=online.to(torch.float64)))
    assert teacher.step_count() == int(teacher.steps) == 6


def test_feature_queue_pointer_reads_no_tensor_value():
    """The queue pointer / fill count are mirrored on the host (densepre.models.utils.host_int);
    a pointer set from outside (checkpoint) is read again."""
    from densepre.models.utils.feature_queue import FeatureQueue
    queue = FeatureQueue(8, 3, side_queues=dict(extra=2), gather=False)
    queue.enqueue(torch.ones(2, 3), extra=torch.ones(2, 2))
    with CountLocalScalar() as counter:
        for i in range(3):
            queue.enqueue(torch.full((2, 3), float(i)), extra=torch.zeros(2, 2))
        queue.knn(torch.ones(1, 2), 2, side='extra')
    assert counter.count == 0
    assert queue.ptr.tolist() == [0] and queue.filled.tolist() == [8]
    assert torch.equal(queue.queue[:, 6:8], torch.full((3, 2), 2.))
    queue.load_state_dict(dict(queue.state_dict(), ptr=torch.tensor([6])))
    queue.enqueue(torch.full((2, 3), 7.), extra=torch.zeros(2, 2))
    assert torch.equal(queue.queue[:, 6:8], torch.full((3, 2), 7.)) and queue.ptr.tolist() == [0]
