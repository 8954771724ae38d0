"""Model zoo: metafiles against the configs, the generated page, mim, reproduce.py, the plots."""
import glob
import json
import os
import os.path as osp
import subprocess
import sys

import pytest
import yaml

from utils import PYTHON, REPO, data_opts, run_train

sys.path.insert(0, osp.join(REPO, 'tools'))
sys.path.insert(0, osp.join(REPO, 'tools', 'misc'))
sys.path.insert(0, osp.join(REPO, 'tools', 'analysis_tools'))
import analyze_logs  # noqa: E402
import model_zoo  # noqa: E402
import reproduce  # noqa: E402

METHODS = ('mocov2', 'byol', 'lewel', 'clove', 'revisiting', 'loca')


def _index():
    return model_zoo.load_index(REPO)


def test_metafiles_name_existing_configs_and_cover_every_pretraining_config():
    with open(osp.join(REPO, 'model-index.yml')) as f:
        imports = yaml.safe_load(f)['Import']
    assert sorted(osp.basename(osp.dirname(p)) for p in imports) == sorted(METHODS)
    names, configs = set(), set()
    for coll, models in _index():
        assert coll['Paper']['URL'].startswith('https://'), coll['Name']
        assert coll['Code']['URL'].startswith('https://'), coll['Name']
        assert osp.isfile(osp.join(REPO, coll['README'])), coll['README']
        assert models, coll['Name']
        for m in models:
            assert m['Name'] not in names, f'duplicate model name {m["Name"]}'
            names.add(m['Name'])
            assert osp.isfile(osp.join(REPO, m['Config'])), m['Config']
            assert osp.splitext(osp.basename(m['Config']))[0] == m['Name'], m['Name']
            configs.add(m['Config'])
            for res in m.get('Results') or []:
                assert res['Task'] and res['Dataset']
                assert all(isinstance(v, (int, float)) for v in res['Metrics'].values()), m['Name']
            if m.get('Weights'):
                assert m['Weights'].startswith('https://'), m['Name']
    shipped = {osp.relpath(p, REPO) for method in METHODS
               for p in glob.glob(osp.join(REPO, 'configs', method, '*.py'))}
    missing = sorted(shipped - configs)
    assert not missing, f'pretraining configs without a metafile entry: {missing}'


def test_released_checkpoints_name_an_existing_importer():
    from densepre.transfer.importers import FORMATS
    released = [m for _, models in _index() for m in models if m.get('Weights')]
    assert len(released) >= 10
    for m in released:
        fmt = model_zoo.import_format(m)
        assert fmt is None or fmt in FORMATS, (m['Name'], fmt)


def test_model_zoo_page_is_generated_and_current():
    assert model_zoo.main(['--check']) == 0, 'run python tools/misc/model_zoo.py'
    text = open(osp.join(REPO, 'docs', 'model_zoo.md')).read()
    for coll, models in _index():
        assert f'## {coll["Name"]}' in text
        assert all(m['Name'] in text for m in models)


def _mim(*args, cwd):
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=REPO)
    return subprocess.run([PYTHON, '-m', 'mim', *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=900)


def test_mim_search_lists_the_metafile_models(tmp_path):
    proc = _mim('search', 'densepre', '--model', 'lewel', cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:] + '\n(tools/install.sh links densepre/.mim)'
    lewel = [m['Name'] for coll, models in _index() if coll['Name'] == 'LEWEL' for m in models]
    for name in lewel:
        assert name in proc.stdout, (name, proc.stdout[-3000:])
    assert 'clove_r50' not in proc.stdout


@pytest.mark.slow
def test_mim_train_and_test_on_tiny_configs(tmp_path, demo_root):
    """``mim train densepre`` (a pretraining config) and ``mim test densepre`` (the demo FCN,
    fine-tuned for 2 iterations from that pretraining by tools/benchmarks/finetune.py)."""
    proc = _mim('train', 'densepre', osp.join(REPO, 'tests/configs/mocov2_r18_tiny.py'),
                '--work-dir', str(tmp_path / 'pre'), '--cfg-options', *data_opts(demo_root),
                'train_cfg.max_epochs=1', cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert osp.isfile(tmp_path / 'pre' / 'epoch_1.pth')
    voc = f'{demo_root}/VOCdevkit/VOC2012'
    data = [f'{d}.dataset.data_root={voc}' for d in
            ('train_dataloader', 'val_dataloader', 'test_dataloader')]
    seg = 'fcn_r18-d8_1xb8-300it_demo-voc-96x96.py'  # found in densepre/.mim/configs by name
    # a fine-tuned model to test: the demo FCN, 2 iterations from the mim-trained checkpoint
    proc = subprocess.run(
        [PYTHON, osp.join(REPO, 'tools/benchmarks/finetune.py'),
         osp.join(REPO, 'configs/demo', seg), str(tmp_path / 'pre' / 'epoch_1.pth'),
         '--no-test', '--work-dir', str(tmp_path / 'seg'), '--cfg-options', *data,
         'train_cfg.max_iters=2', 'train_cfg.val_interval=2',
         'default_hooks.checkpoint.interval=2'],
        env=dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=REPO), capture_output=True,
        text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ckpt = tmp_path / 'seg' / 'iter_2.pth'
    assert ckpt.is_file()
    out = tmp_path / 'metrics.json'
    proc = _mim('test', 'densepre', seg, '--checkpoint', str(ckpt), '--work-dir',
                str(tmp_path / 'test'), '--out', str(out), '--cfg-options', *data, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads(out.read_text())
    assert 0 <= metrics['mIoU'] <= 100


def test_reproduce_dry_run_names_existing_configs_and_scripts(capsys):
    tables = [(p, t) for p, ts in reproduce.TABLES.items() for t in ts]
    assert {f'{p} {t}' for p, t in tables} >= {
        'lewel 2', 'lewel 3', 'lewel 4', 'clove 1', 'clove 2', 'clove 3', 'clove 4', 'clove 5',
        'clove 6', 'clove 7', 'revisiting 4', 'revisiting 5', 'revisiting 6', 'revisiting 9',
        'loca 1', 'loca 2', 'loca 3'}
    for paper, table in tables:
        assert reproduce.main([paper, table, '--dry-run', '--work-dir', '/nonexistent/wd']) == 0
        out = capsys.readouterr().out
        for line in out.splitlines():
            if line.startswith('#') or not line.strip():
                continue
            words = line.split()
            while '=' in words[0]:  # VAR=value prefixes
                assert osp.isfile(osp.join(REPO, words[0].split('=', 1)[1])), line
                words = words[1:]
            prog = words[1] if words[0] == sys.executable else words[0]
            assert osp.isfile(osp.join(REPO, prog)), (paper, table, line)
            for w in words:
                if w.startswith('configs/'):
                    assert osp.isfile(osp.join(REPO, w)), (paper, table, w)
        spec = reproduce.TABLES[paper][table]
        assert f'[pretrain]' in out and spec['pretrain'] in out
        assert out.count('# [bench_') == len(spec['benchmarks'])
        assert ('--teacher' in out) == bool(spec.get('teacher')), (paper, table)
        if spec.get('detectron2'):
            assert osp.isfile(osp.join(REPO, spec['detectron2']))


def test_reproduce_resumes_at_the_first_unfinished_stage(tmp_path, capsys):
    wd = tmp_path / 'wd'
    (wd / '.done').mkdir(parents=True)
    (wd / '.done' / 'extract').write_text('')
    ckpt = tmp_path / 'c.pth'
    ckpt.write_bytes(b'')
    reproduce.main(['lewel', '3', '--ckpt', str(ckpt), '--dry-run', '--work-dir', str(wd)])
    out = capsys.readouterr().out
    assert '[pretrain]' not in out  # --ckpt: no pretraining
    assert '# [extract] done' in out and '# [bench_voc_det]\n' in out


@pytest.mark.slow
def test_reproduce_demo_table_end_to_end(tmp_path):
    """Revisiting Table 5 on the demo data: pretraining (the tiny kNN-MoCo, 1 epoch) ->
    extraction -> DAVIS propagation -> the table with the paper's rows."""
    cmd = [PYTHON, osp.join(REPO, 'tools/reproduce.py'), 'revisiting', '5', '--demo',
           '--pretrain-config', 'tests/configs/knn-mocov2_r18_tiny.py',
           '--work-dir', str(tmp_path / 'wd'), '--demo-data', str(tmp_path / 'data'),
           '--pretrain-options', 'train_cfg.max_epochs=1']
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=REPO)
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    table = (tmp_path / 'wd' / 'table.md').read_text()
    assert 'davis2017_propagation' in table and '(paper)' in table
    for stage in ('demo_data', 'pretrain', 'extract', 'bench_davis2017_propagation'):
        assert (tmp_path / 'wd' / '.done' / stage).is_file()
    again = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0 and again.stdout.count('done (marker') == 4


def test_plot_curve_and_train_time(tmp_path):
    runs = []
    for name, scale in (('a', 1.0), ('b', 2.0)):
        vis = tmp_path / name / '20260101_000000' / 'vis_data'
        vis.mkdir(parents=True)
        recs = [dict(lr=0.1 * scale, loss=scale / (i + 1), time=0.5 + i, epoch=1, iter=i + 1,
                     step=i + 1) for i in range(5)] + [dict(mIoU=1.0, step=5)]
        (vis / 'scalars.json').write_text('\n'.join(json.dumps(r) for r in recs) + '\n')
        runs.append(str(tmp_path / name))
    out = tmp_path / 'curves.png'
    assert analyze_logs.main(['plot_curve', *runs, '--keys', 'loss', 'lr', '--out',
                              str(out)]) == 0
    assert out.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    plotted = analyze_logs.plot_curve(runs, ['loss', 'lr'], str(tmp_path / 'c2.png'))
    assert plotted == {'loss': ['a', 'b'], 'lr': ['a', 'b']}
    with pytest.raises(KeyError, match='no record has'):
        analyze_logs.plot_curve(runs, ['acc'], str(tmp_path / 'c3.png'))
    stats = analyze_logs.cal_train_time(runs[0])
    assert stats['records'] == 5 and stats['mean'] == pytest.approx(2.5)
    assert stats['slowest'] == (5, 4.5) and stats['fastest'] == (1, 0.5)


def test_sweep_collect_writes_the_ablation_figure(tmp_path):
    import clove_sweep
    table = 'clove-table11'
    assert table in clove_sweep.SWEEP.tables, sorted(clove_sweep.SWEEP.tables)
    row = clove_sweep.SWEEP.tables[table]['rows'][0]
    ev = tmp_path / 'runs' / table / osp.splitext(osp.basename(row['config']))[0] / 'eval'
    ev.mkdir(parents=True)
    key = clove_sweep.SWEEP.metrics[0][0]
    (ev / 'a.json').write_text(json.dumps({key: 12.5}))
    md = tmp_path / 't.md'
    assert clove_sweep.SWEEP.main(['collect', table, '--work-root', str(tmp_path / 'runs'),
                                   '--out', str(md)]) == 0
    assert '12.5' in md.read_text()
    assert (tmp_path / 't.png').read_bytes()[:4] == b'\x89PNG'
