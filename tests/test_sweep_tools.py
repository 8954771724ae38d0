"""The ablation-sweep tools (lewel_sweep.py, clove_sweep.py on tools/analysis_tools/_sweep.py)
through their command line: launching (skip-done, row selection, failures) and collecting.
clove_sweep's table coverage and collect layout are tested in test_clove.py."""
import json
import os
import os.path as osp
import subprocess
import sys

from utils import REPO

TOOLS = osp.join(REPO, 'tools', 'analysis_tools')


def _run(tool, *args):
    return subprocess.run([sys.executable, osp.join(TOOLS, tool), *args], cwd=REPO,
                          capture_output=True, text=True,
                          env={**os.environ, 'PYTHONPATH': REPO, 'OMP_NUM_THREADS': '1'})


def test_lewel_sweep_launch_and_collect(tmp_path):
    root = tmp_path / 'sweeps'
    done = root / 'lewel-table5' / 'lewel_m_in100_full'
    (done / 'run' / 'vis_data').mkdir(parents=True)
    (done / 'run' / 'vis_data' / 'scalars.json').write_text(
        json.dumps(dict(loss=5.5, epoch=240)) + '\n' + json.dumps(dict(lr=0.1)) + '\n')
    (done / 'eval').mkdir()
    (done / 'eval' / 'linear.json').write_text(json.dumps(dict(in100_linear_top1=80.04)))
    (done / 'epoch_240.pth').write_bytes(b'')  # the IN-100 ablations pretrain 240 epochs

    out = _run('lewel_sweep.py', 'launch', 'lewel-table5', '--dry-run', '--skip-done',
               '--work-root', str(root), '--launcher', 'echo {name} {table}',
               '--rows', 'lewel_m_in100_full', 'lewel_m_in100_global-only', '--', '--seed', '1')
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        f'echo lewel_m_in100_global-only lewel-table5 --work-dir '
        f'{root}/lewel-table5/lewel_m_in100_global-only --seed 1',
        '# done, skipped: configs/lewel/ablations/table5/lewel_m_in100_full.py']

    # a failing launcher: stop at the first failure, or go on with --keep-going
    out = _run('lewel_sweep.py', 'launch', 'lewel-table7', '--work-root', str(root),
               '--launcher', 'false {config}')
    assert out.returncode == 1 and len(out.stdout.splitlines()) == 1
    out = _run('lewel_sweep.py', 'launch', 'lewel-fig3b', '--work-root', str(root),
               '--launcher', 'false {config}', '--keep-going')
    assert out.returncode == 1 and len(out.stdout.splitlines()) == 5
    assert out.stderr.splitlines()[-1] == ('# failed rows: ' + ' '.join(
        f'lewel_m_in100_c{c}' for c in (16, 32, 64, 128, 256)))
    assert _run('lewel_sweep.py', 'launch', 'lewel-table5', '--rows', 'nope').returncode == 2

    md = tmp_path / 'table5.md'
    out = _run('lewel_sweep.py', 'collect', 'lewel-table5', '--work-root', str(root),
               '--out', str(md))
    assert out.returncode == 0, out.stderr
    assert md.read_text() == out.stdout
    assert '| ✓ | ✓ | ✓ | 82.1 | 80.0 | 63.4 | - | epoch 240/240, loss 5.500 |' in out.stdout
    assert '| ✓ | × | × | 79.5 | - | 61.6 | - | not run |' in out.stdout
    assert 'LEWEL (CVPR 2022) Tables 5-7' in out.stdout
    assert f'# figure: {tmp_path / "table5.png"}' in out.stderr  # the table's figure beside it
    assert (tmp_path / 'table5.png').read_bytes()[:4] == b'\x89PNG'


def test_sweep_tools_list_their_own_tables_and_defaults():
    lewel, clove = _run('lewel_sweep.py', 'list'), _run('clove_sweep.py', 'list')
    assert lewel.returncode == clove.returncode == 0
    assert [line.split(':')[0] for line in lewel.stdout.splitlines()] == [
        'lewel-fig3a', 'lewel-fig3b', 'lewel-table5', 'lewel-table6', 'lewel-table7']
    assert [line.split(':')[0] for line in clove.stdout.splitlines()] == [
        'clove-table10', 'clove-table11', 'clove-table8', 'clove-table9']
    for tool, gpus, root in (('lewel_sweep.py', 8, 'work_dirs/lewel_sweeps'),
                             ('clove_sweep.py', 4, 'work_dirs/clove_sweeps')):
        table = 'lewel-table5' if tool.startswith('lewel') else 'clove-table9'
        out = _run(tool, 'launch', table, '--dry-run')
        first = out.stdout.splitlines()[0]
        assert first.startswith('tools/dist_train.sh configs/') and \
            f' {gpus} --work-dir {root}/{table}/' in first
