"""benchmark_train_step.py's bf16 autocast, loss check and multiply-add count (R18, 32 px)."""
import os.path as osp
import sys

import pytest
import torch

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, osp.join(REPO, 'tools', 'analysis_tools'))

import benchmark_train_step as bts  # noqa: E402

sys.path.pop(0)
BYOL = osp.join(REPO, 'configs/byol/byol_r50_8xb64_200e.py')
LEWEL_B = osp.join(REPO, 'configs/lewel/lewel_b_r50_8xb64_200e.py')
TINY = ['--batch', '2', '--iters', '1', '--warmup', '1', '--size', '32', '--threads', '1',
        '--mem', 'none', '--cfg-options', 'model.backbone.depth=18', 'model.neck.in_channels=512']


def test_fp32_vs_bf16_and_macs(capsys):
    out = bts.main([BYOL, '--vs', LEWEL_B, '--count-macs', '--check-bf16', *TINY,
                    '--vs-cfg-options', 'model.aligned_projector.in_channels=512'])
    text = capsys.readouterr().out
    assert 'forward fp32' in text and 'multiply-adds' in text
    a, b = out['results']
    assert b['gmacs_per_step'] > a['gmacs_per_step'] > 0
    assert out['ratio_b_over_a_gmacs'] == pytest.approx(
        b['gmacs_per_step'] / a['gmacs_per_step'], rel=1e-3)
    for r in (a, b):
        check = r['bf16_vs_fp32_loss']
        assert check['fp32'] != check['bf16']  # the bf16 forward really ran in bf16
        assert check['rel_diff'] < 2e-2


def test_fp32_and_bf16_modes_of_one_config(capsys):
    out = bts.main([BYOL, '--modes', 'fp32', 'bf16', *TINY])
    assert 'forward bf16' in capsys.readouterr().out
    assert [r['autocast'] for r in out['results']] == ['fp32', 'bf16']


def test_macs_match_hand_count_for_a_linear_model():
    """The counter's convention (1 MAC = 2 FLOPs, forward + backward) on a case counted by hand."""
    from torch.utils.flop_counter import FlopCounterMode
    lin = torch.nn.Linear(64, 32, bias=False)
    x = torch.randn(8, 64, requires_grad=True)
    counter = FlopCounterMode(display=False)
    with counter:
        lin(x).sum().backward()
    # forward 8·64·32, backward: grad input 8·32·64 + grad weight 32·8·64
    assert counter.get_total_flops() / 2 == 3 * 8 * 64 * 32
