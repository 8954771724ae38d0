import os
import os.path as osp
import sys

import pytest

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, osp.join(REPO, 'tools'))
sys.path.insert(0, osp.join(REPO, 'tools', 'model_converters'))
sys.path.insert(0, osp.join(REPO, 'tools', 'benchmarks'))
os.environ.setdefault('OMP_NUM_THREADS', '1')


def pytest_configure(config):
    config.addinivalue_line('markers', 'slow: end-to-end tests (minutes); run with -m slow')
    import torch
    torch.set_num_threads(1)


@pytest.fixture(scope='session')
def demo_root(tmp_path_factory):
    """A small synthetic demo set in the real formats (ImageNet list, VOC, COCO)."""
    from densepre.demo import make_demo_data
    root = str(tmp_path_factory.mktemp('demo') / 'demo')
    make_demo_data(root, num_pretrain=32, num_seg_train=8, num_seg_val=4, image_size=48)
    return root


@pytest.fixture(scope='session', autouse=True)
def densepre_modules():
    from densepre.utils import register_all_modules
    register_all_modules()


def _manager_classes():
    from mmengine.registry import DefaultScope
    from mmengine.visualization import Visualizer
    classes, todo = [DefaultScope], [Visualizer]
    while todo:
        cls = todo.pop()
        classes.append(cls)
        todo.extend(cls.__subclasses__())
    return classes


def _keep_default_scope():
    """Undo the MMEngine default scope and visualizer instances a test (or a fixture) creates:
    `make test` runs every file in one process. A scope left at e.g. 'mmdet' made a later file's
    densepre build fail; mmseg's configs name their visualizer 'visualizer', so without this a
    later Runner reused the first one's instance and wrote into that test's work dir."""
    saved = {cls: cls._instance_dict.copy() for cls in _manager_classes()}
    yield
    for cls in _manager_classes():
        cls._instance_dict.clear()
        cls._instance_dict.update(saved.get(cls, {}))


keep_default_scope_per_module = pytest.fixture(
    scope='module', autouse=True, name='keep_default_scope_per_module')(_keep_default_scope)
keep_default_scope_per_test = pytest.fixture(
    autouse=True, name='keep_default_scope_per_test')(_keep_default_scope)


@pytest.fixture(scope='session')
def r50_checkpoint(tmp_path_factory):
    """A densepre MoCo v2 ResNet-50 pretraining checkpoint (random weights, real layout)."""
    import torch
    from mmengine.config import Config

    from densepre.registry import MODELS
    cfg = Config.fromfile(osp.join(REPO, 'configs/mocov2/mocov2_r50_8xb32_200e.py'))
    model = MODELS.build(cfg.model)
    model.init_weights()
    path = str(tmp_path_factory.mktemp('ckpt') / 'mocov2_r50.pth')
    torch.save({'state_dict': model.state_dict(), 'meta': {'epoch': 200}}, path)
    return path


def _release_memory(trim):
    """`make test` runs every file in one process. Models with reference cycles (an EMA teacher that
    refers to its online modules) wait for a full garbage collection, which counts objects, not
    bytes: 15 ViT-B builds in a row grew the process past 11 GB. Collect after each test; give the
    freed heap back to the OS after each file."""
    yield
    import gc
    gc.collect()
    if trim:
        import ctypes
        try:
            ctypes.CDLL('libc.so.6').malloc_trim(0)
        except OSError:  # not glibc
            pass


@pytest.fixture(scope='module', autouse=True)
def release_memory_per_module():
    yield from _release_memory(trim=True)


@pytest.fixture(autouse=True)
def release_memory_per_test():
    yield from _release_memory(trim=False)


def pytest_runtest_logfinish(nodeid, location):
    log = os.environ.get('DENSEPRE_TEST_RSS_LOG')
    if log:  # diagnostics: resident memory after each test
        with open('/proc/self/status') as f:
            rss = next(line.split()[1] for line in f if line.startswith('VmRSS'))
        with open(log, 'a') as f:
            f.write(f'{int(rss) // 1024} MB {nodeid}\n')
