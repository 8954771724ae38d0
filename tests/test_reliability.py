"""Reliability through tools/train.py and the transfer tools: kills, resumes, hostile checkpoints,
silent no-ops, ignored settings, hung ranks, poisoned weights, unclear errors (issue 14).
docs/reliability.md lists which test proves which guarantee."""
import io
import os
import os.path as osp
import re
import shutil
import signal
import socket
import subprocess
import time
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from utils import (PYTHON, REPO, TINY, data_opts, derived_config, losses_by_iter, run_train)

CRASH = "custom_imports = dict(imports=['crash_hooks'])\n"
WORKERS = ['train_dataloader.num_workers=2', 'train_dataloader.persistent_workers=True']
LAST_SOUND = 'the last checkpoint with finite weights within |w| <= 1e+06 is '


def with_hooks(tmp_path, *hooks, algo='mocov2', name='crash.py', extra=''):
    return derived_config(tmp_path, TINY[algo], CRASH + extra + "custom_hooks = ["
                          "dict(type='GlobalLossLogHook'), dict(type='FiniteLossHook'), "
                          + ', '.join(hooks) + ']', name)


def load(path):
    return torch.load(path, map_location='cpu', weights_only=True)


def pointer(work_dir):
    return open(osp.join(work_dir, 'last_checkpoint')).read().strip()


@pytest.fixture(scope='module')
def epoch1(demo_root, tmp_path_factory):
    """A checkpoint of 1 epoch of the tiny MoCo v2 (the tests copy it before changing it)."""
    work = tmp_path_factory.mktemp('epoch1')
    run_train(TINY['mocov2'], work, *data_opts(demo_root), 'train_cfg.max_epochs=1')
    return work / 'epoch_1.pth'


# ------------------------------------------------------------------ 1. kill during a save
def test_kill_during_save_with_max_keep_1_keeps_the_last_checkpoint(demo_root, tmp_path):
    """max_keep_ckpts=1, SIGKILL while epoch_2.pth.part is written: epoch_1.pth and a pointer to
    it survive; the work dir copied elsewhere resumes from its own files."""
    work = tmp_path / 'work'
    cfg = with_hooks(tmp_path, "dict(type='KillDuringSaveHook', at_epoch=2)")
    keep1 = 'default_hooks.checkpoint.max_keep_ckpts=1'
    proc = run_train(cfg, work, *data_opts(demo_root), keep1, check=False)
    assert proc.returncode == -9  # SIGKILL
    assert (work / 'epoch_2.pth.part').exists() and not (work / 'epoch_2.pth').exists()
    assert pointer(work) == 'epoch_1.pth'  # relative: the work dir can move
    assert load(work / 'epoch_1.pth')['meta']['epoch'] == 1
    moved = tmp_path / 'moved'
    shutil.copytree(work, moved)
    shutil.rmtree(work)
    run_train(TINY['mocov2'], moved, *data_opts(demo_root), keep1, extra_args=['--resume'])
    assert load(moved / 'epoch_2.pth')['meta']['epoch'] == 2
    assert pointer(moved) == 'epoch_2.pth'
    assert not (moved / 'epoch_1.pth').exists()  # deleted only after epoch_2.pth was complete
    assert not (moved / 'last_checkpoint.part').exists()


def test_disk_full_during_save_is_named_and_leaves_no_part_file(demo_root, tmp_path):
    cfg = with_hooks(tmp_path, "dict(type='DiskFullDuringSaveHook', at_epoch=2)")
    proc = run_train(cfg, tmp_path, *data_opts(demo_root), check=False)
    assert proc.returncode != 0
    assert 'cannot write checkpoint' in proc.stderr and 'epoch_2.pth' in proc.stderr
    assert 'No space left on device' in proc.stderr and 'intact' in proc.stderr
    assert not list(tmp_path.glob('*.part'))
    assert pointer(tmp_path) == 'epoch_1.pth' and load(tmp_path / 'epoch_1.pth')


# ------------------------------------------------------------------ 2. exact resume, workers
@pytest.mark.slow
def test_resume_with_two_persistent_workers_reproduces_the_losses(demo_root, tmp_path):
    """The shipped demo configs' loader settings (2 persistent workers): kill in epoch 2,
    resume from epoch 1, every loss equals the uninterrupted run's; and the augmentations do not
    depend on the number of workers (the same losses with num_workers=0)."""
    full, crashed, single = tmp_path / 'full', tmp_path / 'crashed', tmp_path / 'w0'
    run_train(TINY['mocov2'], full, *data_opts(demo_root), *WORKERS)
    cfg = with_hooks(tmp_path, "dict(type='KillAfterIterHook', at_iter=11)")
    proc = run_train(cfg, crashed, *data_opts(demo_root), *WORKERS, check=False)
    assert proc.returncode == -9
    run_train(TINY['mocov2'], crashed, *data_opts(demo_root), *WORKERS, extra_args=['--resume'])
    run_train(TINY['mocov2'], single, *data_opts(demo_root), 'train_cfg.max_epochs=1')
    ref, got, w0 = losses_by_iter(full), losses_by_iter(crashed), losses_by_iter(single)
    assert sorted(ref) == sorted(got) == list(range(1, 17))
    for it in range(1, 17):
        assert got[it] == pytest.approx(ref[it], rel=1e-6, abs=1e-7), it
    for it in range(1, 9):
        assert w0[it] == pytest.approx(ref[it], rel=1e-6, abs=1e-7), it


# ------------------------------------------------------------------ 3. untrusted checkpoints
class Evil:
    """Unpickling this runs a shell command (creates ``marker``)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.system, (f'touch {self.marker}',)


def evil_checkpoint(tmp_path, name='evil.pth'):
    marker = tmp_path / f'{name}.ran'
    state = {'backbone.conv1.weight': torch.zeros(64, 3, 7, 7)}
    path = tmp_path / name
    torch.save({'state_dict': state, 'meta': {'epoch': 1, 'x': Evil(marker)}}, path)
    return path, marker


def run_tool(args, env=None):
    full_env = dict(os.environ, PYTHON=PYTHON, OMP_NUM_THREADS='1', PYTHONPATH=REPO, **(env or {}))
    return subprocess.run(args, capture_output=True, text=True, env=full_env, timeout=600)


def test_crafted_pickle_runs_no_code(demo_root, tmp_path):
    """A .pth whose unpickling would run `touch`: refused by --resume and extract_backbone.py,
    naming the object; nothing runs."""
    evil, marker = evil_checkpoint(tmp_path)
    proc = run_train(TINY['mocov2'], tmp_path / 'r', *data_opts(demo_root),
                     extra_args=['--resume', str(evil)], check=False)
    assert proc.returncode != 0 and 'refusing to unpickle checkpoint' in proc.stderr
    assert 'evil.pth' in proc.stderr and '--trust-checkpoint' in proc.stderr
    assert "'posix.system'" in proc.stderr
    proc = run_tool([PYTHON, osp.join(REPO, 'tools/model_converters/extract_backbone.py'),
                     str(evil), str(tmp_path / 'out.pth')])
    assert proc.returncode != 0 and 'refusing to unpickle checkpoint' in proc.stderr
    assert not marker.exists(), 'code in the checkpoint ran'
    assert not (tmp_path / 'out.pth').exists()


@pytest.mark.slow
def test_crafted_pickle_refused_by_load_from_and_voc_seg(demo_root, tmp_path):
    """The same file as load_from and given to voc_seg.sh (finetune.py): refused before any
    work dir is written; nothing runs."""
    evil, marker = evil_checkpoint(tmp_path)
    proc = run_train(TINY['mocov2'], tmp_path / 'l', *data_opts(demo_root), f'load_from={evil}',
                     check=False)
    assert proc.returncode != 0 and 'refusing to unpickle checkpoint' in proc.stderr
    voc = f'{demo_root}/VOCdevkit/VOC2012'
    proc = run_tool(['bash', osp.join(REPO, 'tools/benchmarks/voc_seg.sh'), str(evil),
                     '--work-dir', str(tmp_path / 'seg'), '--cfg-options',
                     f'train_dataloader.dataset.datasets.0.data_root={voc}',
                     f'train_dataloader.dataset.datasets.1.data_root={voc}',
                     f'val_dataloader.dataset.data_root={voc}',
                     f'test_dataloader.dataset.data_root={voc}'])
    assert proc.returncode != 0 and 'refusing to unpickle checkpoint' in proc.stderr
    assert not marker.exists(), 'code in the checkpoint ran'
    assert not (tmp_path / 'seg').exists()


def test_checkpoints_are_weights_only_and_trust_flag_allows_legacy_files(epoch1, demo_root,
                                                                         tmp_path):
    """densepre's checkpoints load with weights_only=True; an MMEngine-style fully pickled one
    (HistoryBuffer, numpy) needs --trust-checkpoint, which warns why."""
    from densepre.engine.checkpoint_io import DIGEST_KEY, decode
    ckpt = load(epoch1)  # weights_only=True
    assert DIGEST_KEY in ckpt and ckpt['meta']['world_size'] == 1
    legacy = decode({k: v for k, v in ckpt.items() if k != DIGEST_KEY})
    assert type(legacy['message_hub']['log_scalars']['train/loss']).__name__ == 'HistoryBuffer'
    torch.save(legacy, tmp_path / 'legacy.pth')
    proc = run_train(TINY['mocov2'], tmp_path / 'a', *data_opts(demo_root),
                     extra_args=['--resume', str(tmp_path / 'legacy.pth')], check=False)
    assert proc.returncode != 0 and 'HistoryBuffer' in proc.stderr
    proc = run_train(TINY['mocov2'], tmp_path / 'b', *data_opts(demo_root),
                     extra_args=['--resume', str(tmp_path / 'legacy.pth'), '--trust-checkpoint'])
    assert 'full unpickling (--trust-checkpoint)' in proc.stdout + proc.stderr
    assert sorted(losses_by_iter(tmp_path / 'b')) == list(range(9, 17))


def flip_bytes_inside_largest_tensor(path):
    with zipfile.ZipFile(path) as z:
        info = max(z.infolist(), key=lambda i: i.file_size)
    data = bytearray(open(path, 'rb').read())
    # local header: 30 bytes + name + extra, then the stored (uncompressed) tensor bytes
    name_len, extra_len = np.frombuffer(bytes(data[info.header_offset + 26:
                                                   info.header_offset + 30]), '<u2')
    start = info.header_offset + 30 + int(name_len) + int(extra_len)
    pos = start + info.file_size // 2
    data[pos:pos + 4] = bytes(b ^ 0xFF for b in data[pos:pos + 4])
    open(path, 'wb').write(bytes(data))


# ------------------------------------------------------------------ 8. corrupt checkpoint
def test_four_corrupt_bytes_inside_a_checkpoint_are_detected(epoch1, demo_root, tmp_path):
    bad = tmp_path / 'flipped.pth'
    shutil.copy(epoch1, bad)
    flip_bytes_inside_largest_tensor(bad)
    assert torch.load(bad, weights_only=True)  # torch itself reads it without complaint
    proc = run_train(TINY['mocov2'], tmp_path / 'r', *data_opts(demo_root),
                     extra_args=['--resume', str(bad)], check=False)
    assert proc.returncode != 0 and 'flipped.pth is corrupt' in proc.stderr
    assert 'SHA-256' in proc.stderr
    proc = run_tool([PYTHON, osp.join(REPO, 'tools/model_converters/extract_backbone.py'),
                     str(bad), str(tmp_path / 'out.pth')])
    assert proc.returncode != 0 and 'flipped.pth is corrupt' in proc.stderr


def test_resume_with_a_changed_model_names_the_file_and_keys(epoch1, demo_root, tmp_path):
    work = tmp_path / 'work'
    work.mkdir()
    shutil.copy(epoch1, work / 'epoch_1.pth')
    (work / 'last_checkpoint').write_text('epoch_1.pth')
    proc = run_train(TINY['mocov2'], work, *data_opts(demo_root), 'model.neck.hid_channels=32',
                     extra_args=['--resume'], check=False)
    assert proc.returncode != 0
    assert f'cannot resume from {work}/epoch_1.pth' in proc.stderr
    assert 'neck.mlp.0.weight' in proc.stderr or 'neck.' in proc.stderr
    assert 'shape mismatches' in proc.stderr


def test_resume_auto_without_checkpoint_says_so(demo_root, tmp_path):
    proc = run_train(TINY['mocov2'], tmp_path, *data_opts(demo_root), 'train_cfg.max_epochs=1',
                     extra_args=['--resume'])
    out = proc.stdout + proc.stderr
    assert 'no checkpoint to resume from: training starts from scratch' in out
    assert 'checkpoint None' not in out


# ------------------------------------------------------------------ 4. silent no-op
def test_batch_larger_than_dataset_is_refused_at_start(demo_root, tmp_path):
    proc = run_train(TINY['mocov2'], tmp_path, *data_opts(demo_root),
                     'train_dataloader.batch_size=64', check=False)
    assert proc.returncode != 0
    assert 'has 32 samples' in proc.stderr and 'fewer than batch_size=64' in proc.stderr
    assert not list(tmp_path.glob('*.pth'))


# ------------------------------------------------------------------ 5. ignored settings
def test_mmcv1_keys_are_refused_naming_their_replacement(demo_root, tmp_path):
    body = ("optimizer = dict(lr=0.5)\nlr_config = dict(policy='step')\n"
            "runner = dict(type='EpochBasedRunner', max_epochs=2)\ntotal_epochs = 2\n"
            "resume_from = None\ncheckpoint_config = dict(interval=1)\n"
            "log_config = dict(interval=1)\nevaluation = dict(interval=1)\ndata = dict()\n")
    cfg = derived_config(tmp_path, TINY['mocov2'], body, 'mmcv1.py')
    proc = run_train(cfg, tmp_path / 'w', *data_opts(demo_root), check=False)
    assert proc.returncode != 0
    for key, new in [('optimizer', 'optim_wrapper'), ('lr_config', 'param_scheduler'),
                     ('runner', 'train_cfg'), ('total_epochs', 'train_cfg.max_epochs'),
                     ('resume_from', '--resume'), ('checkpoint_config', 'default_hooks.checkpoint'),
                     ('log_config', 'default_hooks.logger'), ('evaluation', 'val_evaluator'),
                     ('data', 'train_dataloader')]:
        line = next((ln for ln in proc.stderr.splitlines() if f"'{key}' (mmcv1.py)" in ln), '')
        assert 'mmcv 1.x' in line and new in line, (key, proc.stderr[-3000:])
    assert not list((tmp_path / 'w').glob('*.pth'))


@pytest.mark.parametrize('where, expected', [
    ('file', "'data_root' is set in unused.py but nothing reads it"),
    ('option', "--cfg-options data_root=...: 'data_root' is not a setting the Runner reads"),
])
def test_unread_variable_is_refused(where, expected, demo_root, tmp_path):
    """`data_root = ...` in a child config (or --cfg-options) changes nothing: the base file
    already used its own value in train_dataloader."""
    body = f"data_root = '{demo_root}/imagenet/'" if where == 'file' else ''
    cfg = derived_config(tmp_path, TINY['mocov2'], body, 'unused.py')
    opts = [] if where == 'file' else [f'data_root={demo_root}/imagenet/']
    proc = run_train(cfg, tmp_path / 'w', *opts, check=False)
    assert proc.returncode != 0 and expected in proc.stderr, proc.stderr[-2000:]


def test_shipped_pretraining_configs_pass_the_key_check():
    import glob

    import train
    from mmengine.config import Config
    methods = [d for d in os.listdir(osp.join(REPO, 'configs'))
               if d not in ('_base_', 'benchmarks', 'demo')]
    paths = [p for d in methods for p in
             glob.glob(osp.join(REPO, 'configs', d, '**', '*.py'), recursive=True)]
    paths += glob.glob(osp.join(REPO, 'configs/demo/*_demo.py')) + list(TINY.values())
    assert len(paths) > 20
    for path in paths:
        train.check_top_level_keys(Config.fromfile(path), path)


def test_checkpoint_hook_typo_fails_at_start(demo_root, tmp_path):
    proc = run_train(TINY['mocov2'], tmp_path, *data_opts(demo_root),
                     'default_hooks.checkpoint.max_keep_ckpt=1', check=False)
    assert proc.returncode != 0
    assert "'max_keep_ckpt' (did you mean 'max_keep_ckpts'?)" in proc.stderr
    assert not losses_by_iter(tmp_path)  # before the first iteration, not at the first save


# ------------------------------------------------------------------ 7. poisoned weights
def test_non_finite_weights_are_never_saved_and_the_finite_checkpoint_is_named(demo_root,
                                                                             tmp_path):
    """Weights blown up to ~1e30 at the end of epoch 2: epoch_2.pth is not written (its square
    overflows float32) and the error names epoch_1.pth as the last finite checkpoint."""
    cfg = with_hooks(tmp_path, "dict(type='ScaleWeightsHook', at_iter=16, factor=1e30)")
    proc = run_train(cfg, tmp_path, *data_opts(demo_root), check=False)
    assert proc.returncode != 0 and 'FloatingPointError' in proc.stderr
    assert 'not saving epoch_2.pth' in proc.stderr
    assert f'{LAST_SOUND}{tmp_path}/epoch_1.pth' in proc.stderr
    assert not (tmp_path / 'epoch_2.pth').exists() and pointer(tmp_path) == 'epoch_1.pth'


def test_weights_poisoned_before_the_first_save_leave_no_checkpoint(demo_root, tmp_path):
    """Weights poisoned at the end of epoch 1, before its save: the save is refused, so no file
    holds them (the old behaviour: epoch_1.pth with 1e30 weights, called 'the last good
    state' by the NaN stop one step later)."""
    cfg = with_hooks(tmp_path, "dict(type='ScaleWeightsHook', at_iter=8, factor=1e30)")
    proc = run_train(cfg, tmp_path, *data_opts(demo_root), check=False)
    assert proc.returncode != 0
    assert 'not saving epoch_1.pth' in proc.stderr
    assert 'has finite weights' in proc.stderr and not list(tmp_path.glob('*.pth'))


def test_nan_loss_names_the_last_finite_checkpoint(demo_root, tmp_path):
    cfg = with_hooks(tmp_path, "dict(type='ScaleWeightsHook', at_iter=12, factor=1e30)")
    proc = run_train(cfg, tmp_path, *data_opts(demo_root), check=False)
    assert proc.returncode != 0 and 'non-finite loss at iteration 13' in proc.stderr
    assert f'{LAST_SOUND}{tmp_path}/epoch_1.pth' in proc.stderr


# ------------------------------------------------------------------ 8. data errors at start
def test_wrong_data_prefix_is_one_clear_error_at_start(demo_root, tmp_path):
    proc = run_train(TINY['mocov2'], tmp_path, *data_opts(demo_root),
                     'train_dataloader.dataset.data_prefix.img_path=nope/', check=False)
    assert proc.returncode != 0
    assert 'none of the first 16 images listed in' in proc.stderr and 'nope' in proc.stderr
    assert 'Cannot find valid image' not in proc.stderr
    assert proc.stderr.count('skipping image') == 0


def test_empty_ann_file_is_named(demo_root, tmp_path):
    (tmp_path / 'empty.txt').write_text('\n# nothing\n')
    proc = run_train(TINY['mocov2'], tmp_path / 'w', *data_opts(demo_root),
                     f'train_dataloader.dataset.ann_file={tmp_path}/empty.txt', check=False)
    assert proc.returncode != 0
    assert f'{tmp_path}/empty.txt lists no image' in proc.stderr
    assert 'need at least one array' not in proc.stderr


def png_bytes(arr, mode=None):
    buf = io.BytesIO()
    Image.fromarray(arr, mode).save(buf, format='PNG')
    return buf.getvalue()


def test_huge_tiny_and_broken_images_skipped_with_total_count(demo_root, tmp_path):
    """2 workers; a 16000x16000 PNG (skipped from its header, never decoded), a 1x1 image
    (below min_size), a 0-byte file: each skip names the file and the running total over both
    workers."""
    root = tmp_path / 'data'
    shutil.copytree(f'{demo_root}/imagenet', root)
    bad = root / 'train' / 'bad'
    bad.mkdir()
    huge = Image.new('1', (16000, 16000))  # 32 MB in memory, a few KB as PNG
    huge.save(bad / 'huge.png')
    (bad / 'tiny.png').write_bytes(png_bytes(np.full((1, 1, 3), 200, np.uint8)))
    (bad / 'empty.jpg').write_bytes(b'')
    with open(root / 'meta' / 'train.txt', 'a') as f:
        f.write('bad/huge.png\nbad/tiny.png\nbad/empty.jpg\n')
    proc = run_train(TINY['mocov2'], tmp_path / 'w', f'train_dataloader.dataset.data_root={root}/',
                     'train_cfg.max_epochs=1', *WORKERS)
    out = proc.stdout + proc.stderr
    assert 'huge.png is 16000x16000 = 256 Mpx, above max_pixels=100 Mpx' in out
    assert 'tiny.png is 1x1, smaller than min_size=16' in out
    assert 'empty.jpg' in out
    totals = [int(n) for n in re.findall(r'\((\d+) skipped so far in total \(all workers\)\)',
                                         out)]
    assert len(totals) == out.count('skipping image (') >= 3
    assert sorted(totals) == list(range(1, len(totals) + 1))  # one count across both workers


# ------------------------------------------------------------------ 6. hung rank
def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_frozen_rank_fails_the_job_after_the_configured_timeout(demo_root, tmp_path):
    """gloo, 2 ranks, rank 1 hangs before iteration 3: with env_cfg.dist_cfg.timeout=10 the job
    ends with an error naming the timeout, instead of waiting gloo's default 30 minutes."""
    cfg = with_hooks(tmp_path, "dict(type='FreezeRankHook', rank=1, at_iter=3)",
                     algo='mocov2', extra='')
    env = dict(os.environ, PORT=str(free_port()), PYTHON=PYTHON, OMP_NUM_THREADS='1',
               PYTHONPATH=os.pathsep.join([REPO, osp.join(REPO, 'tests/helpers')]))
    cmd = ['bash', osp.join(REPO, 'tools/dist_train.sh'), cfg, '2', '--work-dir',
           str(tmp_path / 'w'), '--cfg-options', *data_opts(demo_root),
           'train_dataloader.batch_size=2', 'env_cfg.dist_cfg.timeout=10']
    start = time.time()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail('the job with a frozen rank did not end within 240 s')
    assert proc.returncode != 0
    assert 'timed out after 10 s (env_cfg.dist_cfg.timeout)' in out + err, err[-3000:]
    assert time.time() - start < 240


# ------------------------------------------------------------------ 8. transfer messages
def voc_options(demo_root):
    voc = f'{demo_root}/VOCdevkit/VOC2012'
    return [f'train_dataloader.dataset.datasets.0.data_root={voc}',
            f'train_dataloader.dataset.datasets.1.data_root={voc}',
            f'val_dataloader.dataset.data_root={voc}', f'test_dataloader.dataset.data_root={voc}']


def test_incomplete_loading_does_not_list_bn_counters_as_extra(r50_checkpoint, demo_root,
                                                               tmp_path):
    """A checkpoint missing one backbone tensor: the error names it, and does not report the
    BN num_batches_tracked buffers as 'tensors the model does not have'."""
    ckpt = torch.load(r50_checkpoint, weights_only=True)
    del ckpt['state_dict']['backbone.layer4.2.conv3.weight']
    torch.save(ckpt, tmp_path / 'partial.pth')
    proc = run_tool(['bash', osp.join(REPO, 'tools/benchmarks/voc_seg.sh'),
                     str(tmp_path / 'partial.pth'), '--work-dir', str(tmp_path / 'seg'),
                     '--cfg-options', *voc_options(demo_root)])
    assert proc.returncode != 0 and 'IncompleteLoadingError' in proc.stderr
    assert 'layer4.2.conv3.weight' in proc.stderr
    assert 'the model does not have' not in proc.stderr, proc.stderr[-2000:]


@pytest.mark.slow
def test_finetune_with_num_workers_0_trains(demo_root, tmp_path):
    """The demo FCN config with num_workers=0 (persistent_workers=True in its base) fine-tunes
    instead of failing after the work dir was created."""
    run_train(TINY['mocov2'], tmp_path / 'pre', *data_opts(demo_root), 'train_cfg.max_epochs=1')
    voc = f'{demo_root}/VOCdevkit/VOC2012'
    loaders = ('train_dataloader', 'val_dataloader', 'test_dataloader')
    proc = run_tool(['bash', osp.join(REPO, 'tools/benchmarks/voc_seg.sh'),
                     str(tmp_path / 'pre/epoch_1.pth'), '--work-dir', str(tmp_path / 'seg'),
                     '--cfg-options', *[f'{x}.dataset.data_root={voc}' for x in loaders],
                     *[f'{x}.num_workers=0' for x in loaders],
                     'train_cfg.max_iters=2', 'train_cfg.val_interval=2'],
                    env=dict(CONFIG=osp.join(REPO, 'configs/demo/'
                                                   'fcn_r18-d8_1xb8-300it_demo-voc-96x96.py')))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / 'seg/metrics.json').exists()


# ================================================================== issue 20: hostile use, round 3
# ------------------------------------------------------------------ 1. full unpickling
TRUSTED_LOADER = 'densepre/engine/checkpoint_io.py'  # the one place allowed to unpickle fully
UNPICKLERS = {('pickle', 'load'), ('pickle', 'loads'), ('pickle', 'Unpickler'),
              ('cloudpickle', 'load'), ('dill', 'load'), ('joblib', 'load')}


def _full_unpickling_sites(path):
    import ast
    tree = ast.parse(open(path, encoding='utf-8').read(), path)
    sites = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and node.value == 'TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD':
            sites.append((node.lineno, 'sets TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD'))
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = (func.value.id if isinstance(func, ast.Attribute) and
                isinstance(func.value, ast.Name) else None,
                func.attr if isinstance(func, ast.Attribute) else getattr(func, 'id', None))
        kw = {k.arg: k.value for k in node.keywords}
        if name == ('torch', 'load') or name[1] == 'torch_load' and name[0] is None:
            w = kw.get('weights_only')
            if not (isinstance(w, ast.Constant) and w.value is True):
                sites.append((node.lineno, 'torch.load without weights_only=True'))
        elif name in UNPICKLERS:
            sites.append((node.lineno, f'{name[0]}.{name[1]}'))
        elif name[1] == 'load' and isinstance(kw.get('allow_pickle'), ast.Constant) and \
                kw['allow_pickle'].value is True:
            sites.append((node.lineno, 'np.load(allow_pickle=True)'))
    return sites


def test_no_full_unpickling_outside_the_trusted_path():
    """Every .py under densepre/, tools/ and configs/: no torch.load without weights_only=True,
    no pickle / dill / joblib loads, no np.load(allow_pickle=True), no
    TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD, except in densepre/engine/checkpoint_io.py (used only with
    --trust-checkpoint / DENSEPRE_TRUST_CHECKPOINT=1). Issue 20: visualize_loca_positions.py,
    evaluation/frozen_backbone.py and benchmarks/cam.py unpickled fully."""
    import glob
    files = [p for d in ('densepre', 'tools', 'configs')
             for p in glob.glob(osp.join(REPO, d, '**', '*.py'), recursive=True)]
    assert len(files) > 100
    found = []
    for path in files:
        rel = osp.relpath(path, REPO)
        if rel != TRUSTED_LOADER:
            found += [f'{rel}:{line}: {what}' for line, what in _full_unpickling_sites(path)]
    assert not found, '\n'.join(found)
    # the scanner does see the trusted loader's full unpickling
    assert _full_unpickling_sites(osp.join(REPO, TRUSTED_LOADER))


def test_visualize_loca_positions_refuses_a_crafted_pickle(demo_root, tmp_path):
    evil, marker = evil_checkpoint(tmp_path)
    image = f'{demo_root}/imagenet/train/' + open(
        f'{demo_root}/imagenet/meta/train.txt').readline().split()[0]
    proc = run_tool([PYTHON, osp.join(REPO, 'tools/analysis_tools/visualize_loca_positions.py'),
                     osp.join(REPO, 'tests/configs/loca_vit_tiny.py'), str(evil), image,
                     '--out-dir', str(tmp_path / 'vis')])
    assert proc.returncode != 0 and 'refusing to unpickle checkpoint' in proc.stderr
    assert not marker.exists(), 'code in the checkpoint ran'


# ------------------------------------------------------------------ 2. bytes in the data list
@pytest.mark.parametrize('bad, expected', [
    (b'bad/x\x00y.jpg', 'NUL byte at column 6'),
    (b'bad/caf\xe9.jpg', 'byte 0xe9 at column 8 is not UTF-8'),
])
def test_nul_byte_or_invalid_utf8_in_the_list_is_named_at_start(bad, expected, demo_root,
                                                                 tmp_path):
    lines = open(f'{demo_root}/imagenet/meta/train.txt', 'rb').read().splitlines()
    ann = tmp_path / 'train.txt'
    ann.write_bytes(b'\n'.join(lines[:5] + [bad] + lines[5:]) + b'\n')
    proc = run_train(TINY['mocov2'], tmp_path / 'w', *data_opts(demo_root),
                     f'train_dataloader.dataset.ann_file={ann}', check=False)
    assert proc.returncode != 0
    assert f'{ann}:6: {expected}' in proc.stderr, proc.stderr[-2000:]
    assert 'embedded null byte' not in proc.stderr and 'UnicodeDecodeError' not in proc.stderr
    assert not losses_by_iter(tmp_path / 'w')  # refused when the dataset is built


# ------------------------------------------------------------------ 3. resume with other settings
def scalars_by_iter(work_dir, key):
    return losses_by_iter(work_dir, key=key)


def test_resume_with_changed_lr_or_batch_is_refused_unless_overridden(epoch1, demo_root,
                                                                      tmp_path):
    """The checkpoint was trained with lr 0.06 (the config's), batch 4. --resume with lr 0.12
    and batch 2: refused, naming both settings old -> new. With --resume-override naming both,
    the run trains at the new lr (logged old -> new) and batch size."""
    work = tmp_path / 'work'
    work.mkdir()
    shutil.copy(epoch1, work / 'epoch_1.pth')
    (work / 'last_checkpoint').write_text('epoch_1.pth')
    changed = ['optim_wrapper.optimizer.lr=0.12', 'train_dataloader.batch_size=2']
    proc = run_train(TINY['mocov2'], work, *data_opts(demo_root), *changed,
                     extra_args=['--resume'], check=False)
    assert proc.returncode != 0
    assert f'cannot resume from {work}/epoch_1.pth: 2 optimisation / data setting' in proc.stderr
    assert 'optim_wrapper.optimizer.lr: 0.06 -> 0.12' in proc.stderr
    assert 'train_dataloader.batch_size: 4 -> 2' in proc.stderr
    assert '--resume-override' in proc.stderr and not (work / 'epoch_2.pth').exists()
    # a subtree the resumed run cannot apply (the schedulers' state comes from the checkpoint)
    proc = run_train(TINY['mocov2'], work, *data_opts(demo_root),
                     'param_scheduler.0.eta_min=0.001', extra_args=[
                         '--resume', '--resume-override', 'param_scheduler'], check=False)
    assert proc.returncode != 0 and 'cannot take effect in a resumed run' in proc.stderr
    proc = run_train(TINY['mocov2'], work, *data_opts(demo_root), *changed, extra_args=[
        '--resume', '--resume-override', 'optim_wrapper.optimizer.lr',
        'train_dataloader.batch_size'])
    out = proc.stdout + proc.stderr
    assert '--resume-override: optim_wrapper.optimizer.lr: 0.06 -> 0.12' in out
    assert '--resume-override: train_dataloader.batch_size: 4 -> 2' in out
    lrs = scalars_by_iter(work, 'lr')
    assert sorted(lrs) == list(range(9, 25))  # 16 iterations of batch 2 in epoch 2
    # epoch 2 of the cosine schedule (T_max=2, by epoch) runs at half the base lr: 0.12 / 2
    assert lrs[9] == pytest.approx(0.12 * (1 + np.cos(np.pi / 2)) / 2, rel=1e-6)


# ------------------------------------------------------------------ 4. two runs, one work dir
def test_second_training_in_the_same_work_dir_is_refused(demo_root, tmp_path):
    """Run A hangs in iteration 2 holding the work dir; run B in the same work dir is refused,
    naming A's pid. After A is killed (-9) its lock is stale: --resume in that work dir trains."""
    work = tmp_path / 'work'
    cfg = with_hooks(tmp_path, "dict(type='FreezeRankHook', rank=0, at_iter=2, seconds=600)")
    cmd = [PYTHON, osp.join(REPO, 'tools/train.py'), cfg, '--work-dir', str(work),
           '--cfg-options', *data_opts(demo_root)]
    env = dict(os.environ, OMP_NUM_THREADS='1',
               PYTHONPATH=os.pathsep.join([REPO, osp.join(REPO, 'tests/helpers')]))
    first = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        deadline = time.time() + 240
        while not losses_by_iter(work) and time.time() < deadline:  # iteration 1 is logged
            assert first.poll() is None, 'run A ended early'
            time.sleep(1)
        assert losses_by_iter(work), 'run A did not start within 240 s'
        proc = run_train(TINY['mocov2'], work, *data_opts(demo_root), check=False)
        assert proc.returncode != 0
        assert f'work dir {work} is in use by another training' in proc.stderr
        assert f'"pid": {first.pid}' in proc.stderr
    finally:
        first.kill()
        first.wait()
    run_train(TINY['mocov2'], work, *data_opts(demo_root), 'train_cfg.max_epochs=1',
              extra_args=['--resume'])
    assert (work / 'epoch_1.pth').exists()


# ------------------------------------------------------------------ 5. max_pixels, other decoders
def hdr_bytes(h, w):
    import cv2
    ok, buf = cv2.imencode('.hdr', np.full((h, w, 3), 0.5, np.float32))
    assert ok
    return buf.tobytes()


def test_max_pixels_guard_covers_files_pillow_cannot_read(monkeypatch, tmp_path):
    """A Radiance HDR named .JPEG: Pillow cannot read its header, OpenCV decodes it whatever its
    size. With max_pixels on it is refused before any decoding, naming the file."""
    import cv2

    from densepre.registry import TRANSFORMS
    path = tmp_path / 'n01440764_1.JPEG'
    path.write_bytes(hdr_bytes(64, 64))
    assert cv2.imdecode(np.frombuffer(path.read_bytes(), np.uint8), cv2.IMREAD_COLOR) is not None
    decoded = []
    real = cv2.imdecode
    monkeypatch.setattr(cv2, 'imdecode', lambda *a, **k: decoded.append(1) or real(*a, **k))
    load = TRANSFORMS.build(dict(type='LoadImageRobust', on_error='raise', max_pixels=1000))
    with pytest.raises(OSError, match='Pillow cannot read its header'):
        load(dict(img_path=str(path)))
    assert not decoded, 'the file was decoded before its size was known'
    # without the limit it is read (OpenCV), as before
    ok = TRANSFORMS.build(dict(type='LoadImageRobust', max_pixels=None))(dict(img_path=str(path)))
    assert ok['img'].shape == (64, 64, 3)


def test_hdr_in_the_list_is_skipped_through_train(demo_root, tmp_path):
    root = tmp_path / 'data'
    shutil.copytree(f'{demo_root}/imagenet', root)
    (root / 'train' / 'bad').mkdir()
    (root / 'train' / 'bad' / 'big.JPEG').write_bytes(hdr_bytes(200, 100))
    with open(root / 'meta' / 'train.txt', 'a') as f:
        f.write('bad/big.JPEG\n')
    proc = run_train(TINY['mocov2'], tmp_path / 'w', f'train_dataloader.dataset.data_root={root}/',
                     'train_cfg.max_epochs=1')
    assert 'big.JPEG: Pillow cannot read its header' in proc.stdout + proc.stderr


# ------------------------------------------------------------------ 6. finite but poisoned weights
BN1 = 'backbone.bn1.weight'


def test_finite_but_poisoned_weights_are_not_saved_nor_recommended(demo_root, tmp_path):
    """One BN weight set to 1e19 before the epoch-1 save (its square, 1e38, is still a finite
    float32): the save is refused. A poisoned epoch_1.pth written earlier (e.g. by a version
    without this check) is refused by --resume, saying it may be poisoned, and never
    recommended."""
    cfg = with_hooks(tmp_path, f"dict(type='PoisonTensorHook', at_iter=8, key='{BN1}', "
                     "value=1e19)")
    proc = run_train(cfg, tmp_path / 'a', *data_opts(demo_root), check=False)
    assert proc.returncode != 0 and 'not saving epoch_1.pth' in proc.stderr
    assert f'{BN1} (max |w| = 1e+19)' in proc.stderr
    assert 'has finite weights within |w| <= 1e+06' in proc.stderr
    assert not list((tmp_path / 'a').glob('*.pth'))
    # an old poisoned checkpoint next to a sound one
    from densepre.engine.checkpoint_io import DIGEST_KEY, content_digest
    work = tmp_path / 'b'
    run_train(TINY['mocov2'], work, *data_opts(demo_root))
    ckpt = load(work / 'epoch_2.pth')
    ckpt['state_dict'][BN1][0] = 1e19
    ckpt[DIGEST_KEY] = content_digest(ckpt)
    torch.save(ckpt, work / 'epoch_2.pth')
    proc = run_train(TINY['mocov2'], work, *data_opts(demo_root), 'train_cfg.max_epochs=3',
                     extra_args=['--resume'], check=False)
    assert proc.returncode != 0
    assert f'cannot resume from {work}/epoch_2.pth' in proc.stderr
    assert 'probably poisoned' in proc.stderr and BN1 in proc.stderr
    assert f'{LAST_SOUND}{work}/epoch_1.pth' in proc.stderr
    assert f'--resume {work}/epoch_2.pth' not in proc.stderr


# ------------------------------------------------------------------ 7. typos below env_cfg
@pytest.mark.parametrize('option, expected', [
    ('env_cfg.dist_cfg.timout=20', "env_cfg.dist_cfg: unknown key(s) 'timout' "
                                   "(did you mean 'timeout'?)"),
    ('env_cfg.cudnn_benchmrk=True', "env_cfg: unknown key(s) 'cudnn_benchmrk' "
                                    "(did you mean 'cudnn_benchmark'?)"),
    ('env_cfg.mp_cfg.mp_start_metod=fork', "env_cfg.mp_cfg: unknown key(s) 'mp_start_metod'"),
    ('randomness.deterministc=True', "randomness: unknown key(s) 'deterministc' "
                                     "(did you mean 'deterministic'?)"),
])
def test_typos_in_env_cfg_and_randomness_are_refused(option, expected, demo_root, tmp_path):
    proc = run_train(TINY['mocov2'], tmp_path, *data_opts(demo_root), option, check=False)
    assert proc.returncode != 0 and expected in proc.stderr, proc.stderr[-2000:]
    assert not losses_by_iter(tmp_path)


# ------------------------------------------------------------------ 8. unclear errors
def test_checkpoint_resaved_without_checksum_resumes_and_extracts_with_a_warning(epoch1,
                                                                                 demo_root,
                                                                                 tmp_path):
    """A densepre checkpoint re-saved without its densepre_sha256 key: `--resume` used to fail
    with `KeyError: 0` and extract_backbone.py accepted it silently. Both now decode it and warn
    that its content cannot be verified."""
    from densepre.engine.checkpoint_io import DIGEST_KEY
    ckpt = load(epoch1)
    del ckpt[DIGEST_KEY]
    resaved = tmp_path / 'resaved.pth'
    torch.save(ckpt, resaved)
    warning = f'checkpoint {resaved} is in densepre\'s weights-only format but has no'
    proc = run_train(TINY['mocov2'], tmp_path / 'r', *data_opts(demo_root),
                     extra_args=['--resume', str(resaved)])
    assert warning in proc.stdout + proc.stderr and 'KeyError' not in proc.stderr
    assert sorted(losses_by_iter(tmp_path / 'r')) == list(range(9, 17))
    proc = run_tool([PYTHON, osp.join(REPO, 'tools/model_converters/extract_backbone.py'),
                     str(resaved), str(tmp_path / 'out.pth')])
    assert proc.returncode == 0 and warning in proc.stdout + proc.stderr


def test_indices_0_is_named(demo_root, tmp_path):
    proc = run_train(TINY['mocov2'], tmp_path, *data_opts(demo_root),
                     'train_dataloader.dataset.indices=0', check=False)
    assert proc.returncode != 0
    assert 'indices=0 selects no sample' in proc.stderr
    assert 'need at least one array' not in proc.stderr


def test_list_without_one_readable_image_is_one_error(demo_root, tmp_path):
    """Three listed files, all 0 bytes: one error naming the list after each has been tried,
    not 1001 skip warnings and MMEngine's generic message."""
    root = tmp_path / 'data'
    (root / 'train' / 'x').mkdir(parents=True)
    (root / 'meta').mkdir()
    for i in range(3):
        (root / 'train' / 'x' / f'{i}.jpg').write_bytes(b'')
    (root / 'meta' / 'train.txt').write_text('x/0.jpg\nx/1.jpg\nx/2.jpg\n')
    proc = run_train(TINY['mocov2'], tmp_path / 'w', f'train_dataloader.dataset.data_root={root}/',
                     'train_dataloader.batch_size=2', check=False)
    assert proc.returncode != 0
    assert f'none of the 3 images listed in {root}/meta/train.txt could be read' in proc.stderr
    assert 'Cannot find valid image' not in proc.stderr
    assert proc.stdout.count('skipping image') + proc.stderr.count('skipping image') < 40
