"""Helpers to run tools/train.py in tests and read what it logged."""
import glob
import json
import os
import os.path as osp
import subprocess
import sys

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
PYTHON = sys.executable
TINY = {
    'mocov2': osp.join(REPO, 'tests/configs/mocov2_r18_tiny.py'),
    'byol': osp.join(REPO, 'tests/configs/byol_r18_tiny.py'),
}


def data_opts(demo_root):
    return [f'train_dataloader.dataset.data_root={demo_root}/imagenet/']


def run_train(config, work_dir, *cfg_options, extra_args=(), check=True, env=None,
              timeout=600):
    """Run tools/train.py in a subprocess; returns the CompletedProcess."""
    cmd = [PYTHON, osp.join(REPO, 'tools/train.py'), config, '--work-dir', str(work_dir),
           *extra_args]
    if cfg_options:
        cmd += ['--cfg-options', *cfg_options]
    full_env = dict(os.environ, OMP_NUM_THREADS='1',
                    PYTHONPATH=os.pathsep.join([REPO, osp.join(REPO, 'tests/helpers')]))
    full_env.update(env or {})
    proc = subprocess.run(cmd, capture_output=True, text=True, env=full_env, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f'train.py failed ({proc.returncode}):\n{proc.stderr[-4000:]}')
    return proc


def logged_scalars(work_dir):
    """All scalar records of every run in a work dir, in order (list of dicts)."""
    records = []
    for path in sorted(glob.glob(osp.join(str(work_dir), '*', 'vis_data', 'scalars.json'))):
        with open(path) as f:
            records += [json.loads(line) for line in f if line.strip()]
    return records


def losses_by_iter(work_dir, key='loss'):
    out = {}
    for rec in logged_scalars(work_dir):
        if key in rec and 'iter' in rec:
            out[rec['iter']] = rec[key]  # a resumed run overwrites the killed run's records
    return out


def derived_config(tmp_path, base, body, name='derived.py'):
    """Write a config inheriting from ``base`` with extra lines ``body``; returns its path."""
    path = osp.join(str(tmp_path), name)
    with open(path, 'w') as f:
        f.write(f'_base_ = {base!r}\n{body}\n')
    return path


def staged(cfg_path, ckpt, tmp_path, **overrides):
    """A downstream config with `ckpt`'s backbone extracted and injected as its init_cfg;
    returns (cfg, extracted state dict) ready for densepre.transfer.downstream.verify."""
    from mmengine.config import Config

    from densepre.transfer import extract_backbone
    from densepre.transfer.downstream import inject_pretrained, register_scope
    cfg = Config.fromfile(cfg_path)
    cfg.merge_from_dict(overrides)
    register_scope(cfg.default_scope)
    weights = str(tmp_path / 'backbone.pth')
    pretrained = extract_backbone(ckpt, weights)
    inject_pretrained(cfg, weights)
    return cfg, pretrained
