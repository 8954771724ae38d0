"""Precision policy per paper: every MoCo v2 / BYOL / LEWEL config runs the precision its README
states (section "Precision": the single source of truth), and the option stated there switches it.

Each README's precision table has the columns ``configs`` (backticked glob patterns, relative to
the config folder), ``densepre`` (``fp32`` or ``AMP``) and ``option`` (a backticked
``tools/train.py CONFIG ...`` command line). For every ``.py`` config of the folder (ablations
included) exactly one row must match; the config must resolve on a GPU (``DenseRunner``'s
:func:`amp_optim_wrapper_cfg` with ``device_type='cuda'``) to that precision — fp32 as the plain
``OptimWrapper``, AMP as fp16 autocast with loss scaling — and the option, applied through
tools/train.py's own argument handling, must give the other precision and a buildable wrapper.
"""
import fnmatch
import glob
import os.path as osp
import re

import pytest
import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper

from densepre.engine.amp import DenseAmpOptimWrapper, amp_optim_wrapper_cfg

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
METHODS = ('mocov2', 'byol', 'lewel')
PRECISIONS = ('fp32', 'AMP')


def precision_table(method):
    """Rows ``(patterns, precision, option argv)`` of configs/<method>/README.md "## Precision"."""
    path = osp.join(REPO, 'configs', method, 'README.md')
    with open(path, encoding='utf-8') as f:
        text = f.read()
    match = re.search(r'^## Precision\n(.*?)(?=^## |\Z)', text, flags=re.M | re.S)
    assert match, f'{path}: no "## Precision" section'
    lines = [ln.strip() for ln in match.group(1).splitlines() if ln.strip().startswith('|')]
    assert len(lines) >= 3, f'{path}: the Precision section has no table'
    header = [c.strip() for c in lines[0].strip('|').split('|')]
    col = {name: header.index(name) for name in ('configs', 'densepre', 'option')}
    rows = []
    for line in lines[2:]:
        cells = [c.strip() for c in line.strip('|').split('|')]
        patterns = re.findall(r'`([^`]+)`', cells[col['configs']])
        precision = cells[col['densepre']]
        options = re.findall(r'`([^`]+)`', cells[col['option']])
        assert patterns and precision in PRECISIONS and len(options) == 1, \
            f'{path}: cannot read the precision row {line!r}'
        argv = options[0].split()
        assert argv[:2] == ['tools/train.py', 'CONFIG'], \
            f'{path}: the option must be a "tools/train.py CONFIG ..." command, got {options[0]!r}'
        rows.append((patterns, precision, argv[2:]))
    return rows


def configs_with_precision():
    cases = []
    for method in METHODS:
        rows = precision_table(method)
        root = osp.join(REPO, 'configs', method)
        for path in sorted(glob.glob(osp.join(root, '**', '*.py'), recursive=True)):
            rel = osp.relpath(path, root).replace(osp.sep, '/')
            matches = [(prec, opt) for pats, prec, opt in rows
                       if any(fnmatch.fnmatch(rel, p) for p in pats)]
            cases.append(pytest.param(path, matches, id=f'{method}/{rel}'))
    return cases


CASES = configs_with_precision()


def resolved_precision(cfg):
    """What DenseRunner runs on a GPU for this config's optim_wrapper."""
    ow = amp_optim_wrapper_cfg(dict(cfg.optim_wrapper), device_type='cuda')
    if ow['type'] is DenseAmpOptimWrapper:
        assert ow['dtype'] == 'float16', ow
        return 'AMP'
    assert ow['type'] == 'OptimWrapper', ow
    assert not {'loss_scale', 'dtype'} & set(ow), ow
    return 'fp32'


def tiny_model():
    return nn.Sequential(nn.Conv2d(3, 4, 3, bias=False), nn.BatchNorm2d(4), nn.Conv2d(4, 2, 1))


def assert_builds(cfg):
    """The optim wrapper this config gives on this CPU builds (no stray AMP-only keys)."""
    ow = amp_optim_wrapper_cfg(dict(cfg.optim_wrapper), device_type='cpu')
    wrapper = build_optim_wrapper(tiny_model(), ow)
    assert wrapper.optimizer.param_groups


def test_tables_cover_every_method_and_both_precisions():
    rows = [row for m in METHODS for row in precision_table(m)]
    assert {prec for _, prec, _ in rows} == set(PRECISIONS)
    assert len(CASES) > 50  # ablations included


@pytest.mark.parametrize('path,matches', CASES)
def test_config_precision_is_the_readme_one(path, matches):
    from train import merge_args, parse_args  # tools/train.py
    assert len(matches) == 1, (f'{path}: matches {len(matches)} rows of its README precision '
                               'table (expected exactly one)')
    precision, option = matches[0]
    cfg = Config.fromfile(path)
    assert resolved_precision(cfg) == precision
    if precision == 'fp32':  # fp32 is the plain wrapper, not AMP switched off
        assert cfg.optim_wrapper.type == 'OptimWrapper'
    assert_builds(cfg)

    switched = merge_args(Config.fromfile(path), parse_args([path] + option))
    other = 'AMP' if precision == 'fp32' else 'fp32'
    assert resolved_precision(switched) == other
    assert_builds(switched)


def test_amp_option_trains_in_autocast_on_cpu(monkeypatch):
    """The documented AMP option of an fp32 config gives a wrapper that runs autocast (here the
    CPU stand-in: bf16 autocast, forced), and the fp32 default does not."""
    from train import merge_args, parse_args
    monkeypatch.setenv('DENSEPRE_CPU_BF16', '1')
    path = osp.join(REPO, 'configs/byol/byol_r50_8xb64_200e.py')
    amp = merge_args(Config.fromfile(path), parse_args([path, '--amp', '--amp-dtype',
                                                        'bfloat16']))
    dtypes = {}
    for name, cfg in (('fp32', Config.fromfile(path)), ('amp', amp)):
        model = nn.Linear(4, 4)
        wrapper = build_optim_wrapper(model, amp_optim_wrapper_cfg(dict(cfg.optim_wrapper),
                                                                   device_type='cpu'))
        with wrapper.optim_context(model):
            dtypes[name] = model(torch.randn(2, 4)).dtype
    assert dtypes == dict(fp32=torch.float32, amp=torch.bfloat16)


def test_fp32_option_works_on_fp32_configs_too():
    """``optim_wrapper.dtype=float32`` (the fp32 option of the AMP configs) is accepted by an fp32
    config as well (nothing changes), so scripts can force fp32 on any config; any other dtype on
    a plain OptimWrapper is refused with the way to ask for AMP."""
    from train import merge_args, parse_args
    path = osp.join(REPO, 'configs/mocov2/mocov2_r50_8xb32_200e.py')
    cfg = merge_args(Config.fromfile(path), parse_args(
        [path, '--cfg-options', 'optim_wrapper.dtype=float32']))
    assert resolved_precision(cfg) == 'fp32'
    assert_builds(cfg)
    cfg.optim_wrapper.dtype = 'bfloat16'
    with pytest.raises(ValueError, match="AmpOptimWrapper"):
        amp_optim_wrapper_cfg(dict(cfg.optim_wrapper), device_type='cpu')
