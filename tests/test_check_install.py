"""tools/check_install.py: the table / JSON of one method, and that a wrong stored reference or a
broken compiled op makes the command fail (exit status 1, the reason in the table)."""
import json
import os.path as osp

import pytest

from utils import REPO


def run(argv, capsys):
    from check_install import main  # tools/ is on sys.path (conftest)
    code = main(argv)
    return code, capsys.readouterr().out


def test_one_method_table_json_and_a_wrong_reference(tmp_path, capsys):
    """MoCo v2 in fp32 with one stored reference changed by 5 %: the command exits 1, the table
    marks exactly that check FAIL with the value and the reference, everything else passes."""
    with open(osp.join(REPO, 'tools/check_install_references.json')) as f:
        refs = json.load(f)
    refs['methods']['mocov2']['loss'] *= 1.05
    bad = tmp_path / 'refs.json'
    bad.write_text(json.dumps(refs))
    out_json = tmp_path / 'out.json'
    code, out = run(['--device', 'cpu', '--methods', 'mocov2', '--amp', 'off', '--skip', 'ops',
                     'transfer', '--references', str(bad), '--json', str(out_json)], capsys)
    assert code == 1
    result = json.loads(out_json.read_text())
    assert result['ok'] is False and result['failures'] == ['mocov2/reference']
    checks = result['methods']['mocov2']['checks']
    assert checks['reference']['status'] == 'FAIL'
    assert f"{refs['methods']['mocov2']['loss']:.5g}" in checks['reference']['reason']
    for name in ('finite', 'ema', 'queue', 'resume'):
        assert checks[name]['status'] == 'ok', (name, checks[name])
    assert checks['distributed']['status'] == 'n/a'  # --gpus 1
    assert result['methods']['mocov2']['step_ms']['fp32'] > 0
    row = next(line for line in out.splitlines() if line.startswith('MoCo v2'))
    assert row.split()[2:6] == ['ok', 'FAIL', '[1]', 'ok']
    assert '[1] fp32 (rtol 0.001' in out and 'FAILED: 1 failed checks' in out


def test_a_broken_op_fails_the_command(tmp_path, capsys, monkeypatch):
    """An NMS that drops the last kept box (what a miscompiled op could do) is caught by the
    brute-force comparison; RoIAlign and the deformable convolution still pass."""
    import mmcv.ops
    real = mmcv.ops.nms

    def broken(boxes, scores, iou_threshold, *args, **kwargs):
        dets, keep = real(boxes, scores, iou_threshold, *args, **kwargs)
        return dets[:-1], keep[:-1]

    monkeypatch.setattr(mmcv.ops, 'nms', broken)
    out_json = tmp_path / 'out.json'
    code, out = run(['--device', 'cpu', '--methods', 'none', '--json', str(out_json)], capsys)
    assert code == 1
    result = json.loads(out_json.read_text())
    assert result['failures'] == ['ops/nms']
    assert result['ops']['roi_align']['status'] == 'ok'
    assert 'different boxes' in result['ops']['nms']['reason']
    assert 'nms FAIL [1]' in out


def test_unknown_method_is_refused(capsys):
    with pytest.raises(SystemExit):
        run(['--methods', 'simclr'], capsys)
    assert 'unknown method' in capsys.readouterr().err


@pytest.mark.slow
def test_distributed_part_on_two_gloo_processes(tmp_path, capsys):
    """--gpus 2 on CPU: torchrun with 2 gloo ranks; MoCo v2's logged loss, parameters and queue
    are equal on both ranks and ShuffleBN ran; SyncBN is n/a without CUDA."""
    out_json = tmp_path / 'out.json'
    code, _ = run(['--device', 'cpu', '--methods', 'mocov2', '--amp', 'off', '--gpus', '2',
                   '--skip', 'ops', 'transfer', '--json', str(out_json)], capsys)
    result = json.loads(out_json.read_text())
    assert code == 0, result['failures']
    sub = result['distributed']['methods']['mocov2']
    for name in ('loss_equal', 'weights_equal', 'queue_equal', 'shuffle_bn'):
        assert sub[name]['status'] == 'ok', (name, sub[name])
    assert sub['sync_bn']['status'] == 'n/a'
    assert result['distributed']['backend'] == 'gloo' and result['sinkhorn_error'] < 1e-5
