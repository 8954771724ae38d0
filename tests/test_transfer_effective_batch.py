"""Fewer GPUs than the paper: the benchmark scripts keep the paper's effective batch, lr and number
of optimizer steps by gradient accumulation (densepre/transfer/effective_batch.py), or, with
--scale-lr, the old linearly scaled lr."""
import json
import os
import os.path as osp
import re
import subprocess

import pytest
from mmengine.config import Config

from densepre.transfer.effective_batch import PaperBatchError, describe, keep_paper_batch
from utils import PYTHON, REPO, TINY, data_opts, run_train

SEG = osp.join(REPO, 'configs/benchmarks/mmsegmentation/voc12aug/'
               'fcn_r50-d8_4xb4-20k_voc12aug-512x512.py')
VOC_DET = osp.join(REPO, 'configs/benchmarks/mmdetection/voc0712/'
                   'faster-rcnn_r50-c4_ms-24k_voc0712.py')
COCO_FPN = osp.join(REPO, 'configs/benchmarks/mmdetection/coco/mask-rcnn_r50_fpn_ms-1x_coco.py')
DEMO_SEG = osp.join(REPO, 'configs/demo/fcn_r18-d8_1xb8-300it_demo-voc-96x96.py')


def test_voc_seg_on_one_process_accumulates_to_the_paper_batch():
    """The issue's case: VOC12aug FCN (4 GPUs x 4, 20k iterations, lr 0.01) on one process."""
    cfg = Config.fromfile(SEG)
    sched = cfg.param_scheduler[0]
    assert (sched.type, sched.by_epoch, sched.end) == ('PolyLR', False, 20000)
    info = keep_paper_batch(cfg, world_size=1)
    assert (info['per_gpu'], info['accumulation'], info['effective_batch']) == (4, 4, 16)
    assert cfg.optim_wrapper.accumulative_counts == 4
    assert cfg.optim_wrapper.optimizer.lr == 0.01 and cfg.auto_scale_lr.enable is False
    # loop iterations are micro-batches: 4 per optimizer step
    assert cfg.train_cfg.max_iters == 80000 and info['optimizer_steps'] == 20000
    assert cfg.param_scheduler[0].end == 80000
    assert cfg.train_cfg.val_interval == 4 * Config.fromfile(SEG).train_cfg.val_interval
    assert cfg.default_hooks.checkpoint.interval == \
        4 * Config.fromfile(SEG).default_hooks.checkpoint.interval
    # 10582 training images: 20k steps x 16 = 30.2 epochs (the paper's), not 7.6
    assert '30.2 epochs of 10582' in describe(info, 10582)
    assert 'effective batch 16 = 4 per GPU x 1 GPU(s) x 4 accumulation step(s)' in describe(info)


@pytest.mark.parametrize('world,per_gpu,steps', [(1, 2, 8), (2, 2, 4), (4, 2, 2), (8, 2, 1),
                                                 (16, 1, 1)])
def test_iteration_schedule_scales_with_accumulation(world, per_gpu, steps):
    cfg = Config.fromfile(VOC_DET)
    info = keep_paper_batch(cfg, world_size=world)
    assert per_gpu * steps * world == 16 == info['effective_batch']
    assert cfg.train_dataloader.batch_size == per_gpu
    assert cfg.optim_wrapper.get('accumulative_counts', 1) == steps
    assert cfg.optim_wrapper.optimizer.lr == 0.02
    assert cfg.train_cfg.max_iters == 24000 * steps
    warmup, step = cfg.param_scheduler
    assert warmup.end == 100 * steps
    assert step.milestones == [18000 * steps, 22000 * steps] and step.end == 24000 * steps


def test_epoch_schedule_keeps_epochs():
    """COCO 1x: 12 epochs stay 12 epochs; only the iteration-valued warm-up is stretched."""
    cfg = Config.fromfile(COCO_FPN)
    info = keep_paper_batch(cfg, world_size=1)
    assert info['accumulation'] == 8 and cfg.train_cfg.max_epochs == 12
    warmup, step = cfg.param_scheduler
    assert warmup.by_epoch is False and warmup.end == 1000 * 8  # detectron2: 1000 iterations
    assert step.by_epoch is True and step.milestones == [8, 11] and step.end == 12


def test_indivisible_batch_is_refused():
    with pytest.raises(PaperBatchError, match='16 cannot be split evenly over 3 GPUs'):
        keep_paper_batch(Config.fromfile(VOC_DET), world_size=3)


def test_scale_mode_is_the_old_behaviour():
    cfg = Config.fromfile(VOC_DET)
    before = cfg.to_dict()
    info = keep_paper_batch(cfg, world_size=1, mode='scale')
    assert cfg.to_dict() == before  # auto_scale_lr scales the lr when the runner starts
    assert info['effective_batch'] == 2 and info['lr'] == pytest.approx(0.02 * 2 / 16)
    assert 'scaled mode' in describe(info)


def test_resolved_runner_accumulates(demo_root, tmp_path):
    """The Runner built from the adapted demo config: OptimWrapper with 4 accumulation steps, the
    train loop's 4x iterations and the lr unscaled."""
    from densepre.engine.runner import DenseRunner
    from densepre.transfer.downstream import register_scope
    voc = f'{demo_root}/VOCdevkit/VOC2012'
    cfg = Config.fromfile(DEMO_SEG)
    cfg.merge_from_dict({'train_dataloader.dataset.data_root': voc,
                         'val_dataloader.dataset.data_root': voc,
                         'test_dataloader.dataset.data_root': voc,
                         'train_dataloader.batch_size': 2, 'train_dataloader.num_workers': 0,
                         'train_dataloader.persistent_workers': False,
                         'auto_scale_lr.base_batch_size': 8})
    register_scope('mmseg')
    keep_paper_batch(cfg, world_size=1)
    cfg.work_dir = str(tmp_path / 'work')
    runner = DenseRunner.from_cfg(cfg)
    optim_wrapper = runner.build_optim_wrapper(runner.optim_wrapper)
    assert optim_wrapper._accumulative_counts == 4
    assert optim_wrapper.param_groups[0]['lr'] == 0.01
    assert runner.train_loop.max_iters == 1200 and runner.train_dataloader.batch_size == 2


def read_lrs(work):
    records = []
    for path in sorted(work.glob('*/vis_data/scalars.json')):
        records += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return {r['iter']: r['lr'] for r in records if 'lr' in r and 'iter' in r}


@pytest.mark.slow
def test_voc_seg_sh_accumulates_end_to_end(demo_root, tmp_path):
    """voc_seg.sh with the demo FCN config told that the paper's batch is 8 and the per-GPU batch
    2: on one CPU process it runs 4 accumulation steps per optimizer step, prints the effective
    batch, lr and epochs, trains 3 optimizer steps (12 loop iterations) and tests."""
    run_train(TINY['mocov2'], tmp_path / 'pre', *data_opts(demo_root), 'train_cfg.max_epochs=1')
    voc = f'{demo_root}/VOCdevkit/VOC2012'
    env = dict(os.environ, PYTHON=PYTHON, OMP_NUM_THREADS='1', PYTHONPATH=REPO, CONFIG=DEMO_SEG)
    proc = subprocess.run(
        ['bash', osp.join(REPO, 'tools/benchmarks/voc_seg.sh'), str(tmp_path / 'pre/epoch_1.pth'),
         '--work-dir', str(tmp_path / 'seg'), '--cfg-options',
         f'train_dataloader.dataset.data_root={voc}', f'val_dataloader.dataset.data_root={voc}',
         f'test_dataloader.dataset.data_root={voc}', 'auto_scale_lr.base_batch_size=8',
         'train_dataloader.batch_size=2', 'train_cfg.max_iters=3', 'train_cfg.val_interval=3',
         'param_scheduler.0.end=3', 'default_hooks.logger.interval=1'],
        capture_output=True, text=True, env=env, timeout=900)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    line = re.search(r'effective batch 8 = 2 per GPU x 1 GPU\(s\) x 4 accumulation step\(s\) '
                     r'\(paper: 8\); lr 0\.01; 3 optimizer steps = ([\d.]+) epochs of (\d+)', out)
    assert line, out[-3000:]
    assert float(line.group(1)) == pytest.approx(3 * 8 / int(line.group(2)), abs=0.05)
    lrs = read_lrs(tmp_path / 'seg')
    assert max(lrs) == 12  # 3 optimizer steps x 4 micro-batches
    result = json.load(open(tmp_path / 'seg/metrics.json'))
    assert result['schedule'] == dict(effective_batch=8, accumulation=4, world_size=1,
                                      mode='accumulate')


@pytest.mark.slow
def test_two_processes_accumulate_half_as_much(demo_root, tmp_path):
    """voc_seg.sh CKPT 2 (torchrun, gloo): the paper batch 8 with 2 per process over 2 processes
    is 2 accumulation steps; both ranks train the same 2 optimizer steps (4 loop iterations)."""
    run_train(TINY['mocov2'], tmp_path / 'pre', *data_opts(demo_root), 'train_cfg.max_epochs=1')
    voc = f'{demo_root}/VOCdevkit/VOC2012'
    env = dict(os.environ, PYTHON=PYTHON, OMP_NUM_THREADS='1', PYTHONPATH=REPO, CONFIG=DEMO_SEG,
               PORT='29631')
    proc = subprocess.run(
        ['bash', osp.join(REPO, 'tools/benchmarks/voc_seg.sh'), str(tmp_path / 'pre/epoch_1.pth'),
         '2', '--work-dir', str(tmp_path / 'seg'), '--cfg-options',
         f'train_dataloader.dataset.data_root={voc}', f'val_dataloader.dataset.data_root={voc}',
         f'test_dataloader.dataset.data_root={voc}', 'auto_scale_lr.base_batch_size=8',
         'train_dataloader.batch_size=2', 'train_cfg.max_iters=2', 'train_cfg.val_interval=2',
         'param_scheduler.0.end=2', 'default_hooks.logger.interval=1'],
        capture_output=True, text=True, env=env, timeout=900)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert 'effective batch 8 = 2 per GPU x 2 GPU(s) x 2 accumulation step(s)' in out
    assert max(read_lrs(tmp_path / 'seg')) == 4
    assert json.load(open(tmp_path / 'seg/metrics.json'))['schedule']['world_size'] == 2
