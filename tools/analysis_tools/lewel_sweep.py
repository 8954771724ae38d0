"""Launch a LEWEL ablation table as a sweep, and collect the finished runs into its layout.

Tables (IN-100 pretraining, ResNet-50; configs in ``configs/lewel/ablations/``):

* ``lewel-table5``: influence of each component (global / aligned loss, coupled head), LEWEL_M
* ``lewel-table6``: MoCo v2 with larger / extra projection heads vs LEWEL_M (incl. random W)
* ``lewel-table7``: number of aligned embeddings, the d x h grid, LEWEL_B
* ``lewel-fig3a``: loss weight beta in {0, 0.1, ..., 1}, LEWEL_M
* ``lewel-fig3b``: aligned-embedding size c, LEWEL_M

Usage::

    # what a table runs (config, work dir, done?)
    python tools/analysis_tools/lewel_sweep.py list lewel-table5
    # print the commands without running them
    python tools/analysis_tools/lewel_sweep.py launch lewel-table5 --dry-run
    # run the rows one after another on one 8-GPU machine (the default launcher)
    python tools/analysis_tools/lewel_sweep.py launch lewel-table5 \\
        --launcher 'tools/dist_train.sh {config} 8'
    # Slurm: every row is its own (blocking) srun job
    python tools/analysis_tools/lewel_sweep.py launch lewel-table7 \\
        --launcher 'tools/slurm_train.sh PARTITION {name} {config} {work_dir}'
    # the table in the paper's layout, paper numbers beside densepre's (markdown)
    python tools/analysis_tools/lewel_sweep.py collect lewel-table5 --out table5.md

The launcher is a command template with ``{config}``, ``{work_dir}``, ``{name}`` (row id) and
``{table}``; without ``{work_dir}`` the tool appends ``--work-dir {work_dir}``. Work dirs are
``<work-root>/<table>/<config name>`` (``--work-root`` defaults to ``work_dirs/lewel_sweeps``).
``--skip-done`` skips rows whose final checkpoint exists; extra arguments after ``--`` go to
every command (e.g. ``-- --cfg-options train_dataloader.batch_size=16``).

Collecting: for each row the tool reads the pretraining log (``<work_dir>/*/vis_data/
scalars.json``: epochs done, last loss) and every ``<work_dir>/eval/*.json`` (a flat JSON object
of metric name -> value written by the evaluation jobs). The table metrics are read under the
keys ``in100_linear_top1`` (IN-100 linear top-1, %) and ``voc12_seg_miou`` (VOC12 FCN mIoU, %);
a missing value is shown as ``-``. The paper's numbers are printed beside them and stay the
paper's: densepre has not reproduced these tables at their scale.
"""
import argparse
import glob
import json
import os.path as osp
import shlex
import subprocess
import sys
from typing import Dict, List, Optional

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
ABL = 'configs/lewel/ablations'
METRICS = [('in100_linear_top1', 'IN-100 Acc.'), ('voc12_seg_miou', 'VOC12 mIoU')]


def _row(config: str, labels: List[str], paper: Optional[List[Optional[float]]] = None) -> dict:
    return dict(config=f'{ABL}/{config}', labels=labels, paper=paper or [None, None])


# Each table: its caption, the label columns and the rows (config, labels, paper numbers
# [IN-100 linear acc., VOC12 mIoU] from LEWEL Tables 5-7; Fig. 3's values are only plotted).
TABLES: Dict[str, dict] = {
    'lewel-table5': dict(
        caption='LEWEL Table 5: influence of each component (LEWEL_M, IN-100)',
        columns=['Global', 'Align.', 'Coupled Head'],
        rows=[
            _row('table5/lewel_m_in100_global-only.py', ['✓', '×', '×'], [79.5, 61.6]),
            _row('table5/lewel_m_in100_aligned-only.py', ['×', '✓', '×'], [80.0, 62.6]),
            _row('table5/lewel_m_in100_no-coupled-head.py', ['✓', '✓', '×'], [81.0, 62.7]),
            _row('table5/lewel_m_in100_full.py', ['✓', '✓', '✓'], [82.1, 63.4]),
        ]),
    'lewel-table6': dict(
        caption='LEWEL Table 6: MoCo v2 with larger / extra projection heads (IN-100)',
        columns=['Method', 'Extra p', 'd'],
        rows=[
            _row('table6/mocov2_in100_d128.py', ['MoCov2', '×', '128'], [79.5, 61.6]),
            _row('table6/mocov2_in100_d256.py', ['MoCov2', '×', '256'], [79.8, 60.6]),
            _row('table6/mocov2_in100_d512.py', ['MoCov2', '×', '512'], [80.2, 61.5]),
            _row('table6/mocov2_in100_extra-p.py', ['MoCov2', '✓', '128'], [79.9, 62.2]),
            _row('table6/lewel_m_in100_no-extra-p.py', ['LEWEL_M', '×', '128'], [81.8, 63.0]),
            _row('table6/lewel_m_in100_rand-w.py', ['LEWEL_M w/ rand. W', '✓', '128'],
                 [79.8, 61.9]),
            _row('table6/lewel_m_in100_full.py', ['LEWEL_M', '✓', '128'], [82.1, 63.4]),
        ]),
    'lewel-table7': dict(
        caption='LEWEL Table 7: number of aligned embeddings d/h (LEWEL_B, IN-100)',
        columns=['Method', 'd', 'h'],
        rows=[_row('table7/byol_in100_d256.py', ['BYOL', '256', 'N/A'], [81.4, 59.7])] + [
            _row(f'table7/lewel_b_in100_d{d}-h{h}.py', ['LEWEL_B', str(d), str(h)], [a, m])
            for d, h, a, m in [(512, 4, 84.6, 62.6), (256, 1, 81.0, 63.2), (256, 2, 82.6, 63.3),
                               (256, 4, 83.3, 63.4), (256, 8, 83.1, 62.1), (256, 16, 82.9, 61.4),
                               (128, 4, 83.8, 60.9), (64, 4, 84.8, 61.8)]
        ]),
    'lewel-fig3a': dict(
        caption='LEWEL Fig. 3a: loss weight beta (LEWEL_M, IN-100; paper values only plotted)',
        columns=['beta'],
        rows=[_row(f'fig3a/lewel_m_in100_beta{b}.py', [b])
              for b in ['0.0', '0.1', '0.2', '0.3', '0.4', '0.5', '0.6', '0.7', '0.8', '0.9',
                        '1.0']]),
    'lewel-fig3b': dict(
        caption='LEWEL Fig. 3b: aligned-embedding size c, d = 128 (LEWEL_M, IN-100; paper '
        'values only plotted)',
        columns=['c'],
        rows=[_row(f'fig3b/lewel_m_in100_c{c}.py', [str(c)]) for c in [16, 32, 64, 128, 256]]),
}


def row_name(row: dict) -> str:
    return osp.splitext(osp.basename(row['config']))[0]


def work_dir_of(table: str, row: dict, work_root: str) -> str:
    return osp.join(work_root, table, row_name(row))


def max_epochs(config: str) -> Optional[int]:
    try:
        from mmengine.config import Config
        return int(Config.fromfile(osp.join(REPO, config)).train_cfg.max_epochs)
    except Exception:  # noqa: BLE001 - only used for the "done?" display
        return None


def is_done(config: str, work_dir: str) -> bool:
    epochs = max_epochs(config)
    return epochs is not None and osp.isfile(osp.join(work_dir, f'epoch_{epochs}.pth'))


def build_command(template: str, table: str, row: dict, work_dir: str,
                  extra: List[str]) -> List[str]:
    if '{work_dir}' not in template:
        template += ' --work-dir {work_dir}'
    fields = dict(config=row['config'], work_dir=work_dir, name=row_name(row), table=table)
    return [part.format(**fields) for part in shlex.split(template)] + list(extra)


def read_pretrain_log(work_dir: str) -> dict:
    """Last logged epoch / iteration / loss of a work dir (all runs, resumed ones included)."""
    last: dict = {}
    for path in sorted(glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))):
        with open(path) as f:
            for line in f:
                if line.strip():
                    rec = json.loads(line)
                    if 'loss' in rec:
                        last = rec
    return last


def read_eval(work_dir: str) -> dict:
    metrics: dict = {}
    for path in sorted(glob.glob(osp.join(work_dir, 'eval', '*.json'))):
        with open(path) as f:
            metrics.update(json.load(f))
    return metrics


def _fmt(v) -> str:
    return '-' if v is None else (f'{v:.1f}' if isinstance(v, (int, float)) else str(v))


def collect(table: str, work_root: str) -> str:
    spec = TABLES[table]
    head = spec['columns'] + [h for _, name in METRICS for h in (f'{name} (paper)',
                                                                   f'{name} (densepre)')]
    head.append('pretraining (densepre)')
    lines = [f'**{spec["caption"]}**', '', '| ' + ' | '.join(head) + ' |',
             '|' + '---|' * len(head)]
    for row in spec['rows']:
        wd = work_dir_of(table, row, work_root)
        cells = list(row['labels'])
        ev = read_eval(wd) if osp.isdir(wd) else {}
        for (key, _), paper in zip(METRICS, row['paper']):
            cells += [_fmt(paper), _fmt(ev.get(key))]
        if not osp.isdir(wd):
            status = 'not run'
        else:
            log = read_pretrain_log(wd)
            epochs = max_epochs(row['config'])
            status = (f'epoch {log.get("epoch", "?")}/{epochs}, loss {log["loss"]:.3f}'
                      if log else 'no log')
        cells.append(status)
        lines.append('| ' + ' | '.join(cells) + ' |')
    lines += ['', 'Paper numbers: LEWEL (CVPR 2022) Tables 5-7, IN-100 linear top-1 and VOC12 '
              'FCN mIoU. densepre columns: this sweep\'s runs (`eval/*.json` in each work dir); '
              'densepre has not reproduced these tables at the paper\'s scale.']
    return '\n'.join(lines) + '\n'


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    sub = parser.add_subparsers(dest='cmd', required=True)
    p_list = sub.add_parser('list', help='list the tables, or the rows of one table')
    p_list.add_argument('table', nargs='?', choices=sorted(TABLES))
    p_list.add_argument('--work-root', default='work_dirs/lewel_sweeps')
    p_launch = sub.add_parser('launch', help='run (or print) every row of a table')
    p_launch.add_argument('table', choices=sorted(TABLES))
    p_launch.add_argument('--launcher', default='tools/dist_train.sh {config} 8',
                          help='command template ({config} {work_dir} {name} {table})')
    p_launch.add_argument('--work-root', default='work_dirs/lewel_sweeps')
    p_launch.add_argument('--rows', nargs='+', help='only these rows (config names)')
    p_launch.add_argument('--dry-run', action='store_true', help='print the commands only')
    p_launch.add_argument('--skip-done', action='store_true',
                          help='skip rows whose final checkpoint exists')
    p_launch.add_argument('--keep-going', action='store_true',
                          help='continue with the next row when one fails')
    p_collect = sub.add_parser('collect', help="the table's layout as markdown")
    p_collect.add_argument('table', choices=sorted(TABLES))
    p_collect.add_argument('--work-root', default='work_dirs/lewel_sweeps')
    p_collect.add_argument('--out', help='also write the markdown to this file')
    argv = list(sys.argv[1:] if argv is None else argv)
    extra: List[str] = []
    if '--' in argv:
        i = argv.index('--')
        argv, extra = argv[:i], argv[i + 1:]
    args = parser.parse_args(argv)

    if args.cmd == 'list':
        for name in ([args.table] if args.table else sorted(TABLES)):
            spec = TABLES[name]
            print(f'{name}: {spec["caption"]} ({len(spec["rows"])} runs)')
            if args.table:
                for row in spec['rows']:
                    wd = work_dir_of(name, row, args.work_root)
                    done = 'done' if is_done(row['config'], wd) else 'todo'
                    print(f'  [{done}] {row["config"]} -> {wd}')
        return 0

    if args.cmd == 'collect':
        md = collect(args.table, args.work_root)
        print(md, end='')
        if args.out:
            with open(args.out, 'w') as f:
                f.write(md)
        return 0

    rows = TABLES[args.table]['rows']
    if args.rows:
        unknown = set(args.rows) - {row_name(r) for r in rows}
        if unknown:
            parser.error(f'unknown rows {sorted(unknown)}; see `list {args.table}`')
        rows = [r for r in rows if row_name(r) in args.rows]
    failed = []
    for row in rows:
        wd = work_dir_of(args.table, row, args.work_root)
        cmd = build_command(args.launcher, args.table, row, wd, extra)
        if args.skip_done and is_done(row['config'], wd):
            print(f'# done, skipped: {row["config"]}')
            continue
        print(' '.join(shlex.quote(c) for c in cmd), flush=True)
        if args.dry_run:
            continue
        ret = subprocess.call(cmd, cwd=REPO)
        if ret != 0:
            failed.append(row_name(row))
            print(f'# {row_name(row)} failed with exit code {ret}', file=sys.stderr)
            if not args.keep_going:
                return ret
    if failed:
        print(f'# failed rows: {" ".join(failed)}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
