"""Launch a CLoVE ablation table (CLoVE Sec. 5, Tables 8-11) as a sweep, and collect the finished
runs into the paper's layout.

Tables (ImageNet-1K pretraining for 50 epochs, ResNet-50; configs in
``configs/clove/ablations/``; the paper reports VOC07+12 Faster R-CNN R50-C4 AP, 3-run means):

* ``clove-table8``: ℓ2 vs ranking loss, with and without multi-crop (2x224 [+ 6x96])
* ``clove-table9``: NMHSA vs plain MHSA
* ``clove-table10``: negatives from a queue (inter, inter-avg) vs intra-image
* ``clove-table11``: positive-match threshold T_pos in {0.5, ..., 0.9}

Usage::

    python tools/analysis_tools/clove_sweep.py list clove-table11
    python tools/analysis_tools/clove_sweep.py launch clove-table11 --dry-run
    python tools/analysis_tools/clove_sweep.py launch clove-table8 \\
        --launcher 'tools/dist_train.sh {config} 4'
    python tools/analysis_tools/clove_sweep.py collect clove-table8 --out table8.md

The launcher template, work-dir layout (``<work-root>/<table>/<config name>``), ``--skip-done``,
``--rows``, ``--keep-going`` and the extra arguments after ``--`` behave as in
``lewel_sweep.py`` (whose helpers this tool uses). Collecting reads each run's pretraining log
and its ``<work_dir>/eval/*.json`` (flat JSON: metric -> value, written by the evaluation jobs)
under the keys ``voc07_det_ap``, ``voc07_det_ap50``, ``voc07_det_ap75`` (percent); a missing
value is ``-``. The paper's numbers stay the paper's: densepre has not run these tables.
"""
import argparse
import os.path as osp
import shlex
import subprocess
import sys
from typing import Dict, List, Optional

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from lewel_sweep import (_fmt, build_command, is_done, max_epochs,  # noqa: E402
                         read_eval, read_pretrain_log, row_name, work_dir_of)

ABL = 'configs/clove/ablations'
METRICS = [('voc07_det_ap', 'AP'), ('voc07_det_ap50', 'AP50'), ('voc07_det_ap75', 'AP75')]


def _row(config: str, labels: List[str], paper: List[Optional[float]]) -> dict:
    return dict(config=f'{ABL}/{config}', labels=labels, paper=paper)


# rows: (config, labels, paper [AP, AP50, AP75]); CLoVE Tables 8-11 (Table 11 gives AP only)
TABLES: Dict[str, dict] = {
    'clove-table8': dict(
        caption='CLoVE Table 8: contrastive vs non-contrastive loss and multi-crop',
        columns=['Loss', 'multi-crop'],
        rows=[
            _row('table8/clove_50e_l2_2views.py', ['ℓ2', '×'], [58.6, 82.8, 66.2]),
            _row('table8/clove_50e_l2_multicrop.py', ['ℓ2', '✓'], [58.3, 82.9, 65.3]),
            _row('table8/clove_50e_rank_2views.py', ['Rank', '×'], [58.5, 82.8, 65.6]),
            _row('table8/clove_50e_rank_multicrop.py', ['Rank', '✓'], [58.8, 83.3, 65.9]),
        ]),
    'clove-table9': dict(
        caption='CLoVE Table 9: normalised vs plain multi-head self-attention',
        columns=['Method'],
        rows=[
            _row('table9/clove_50e_mhsa.py', ['MHSA'], [58.3, 83.1, 65.8]),
            _row('table9/clove_50e_nmhsa.py', ['NMHSA'], [58.7, 83.3, 65.9]),
        ]),
    'clove-table10': dict(
        caption='CLoVE Table 10: negative sampling strategies',
        columns=['Method', 'queue'],
        rows=[
            _row('table10/clove_50e_inter.py', ['Inter', '✓'], [57.4, 82.5, 63.6]),
            _row('table10/clove_50e_inter-avg.py', ['Inter (avg)', '✓'], [57.5, 82.8, 64.7]),
            _row('table10/clove_50e_intra.py', ['Intra', '×'], [58.7, 83.3, 65.9]),
        ]),
    'clove-table11': dict(
        caption='CLoVE Table 11: the positive-match threshold T_pos',
        columns=['T_pos'],
        rows=[_row(f'table11/clove_50e_tpos{t}.py', [t], [ap, None, None])
              for t, ap in [('0.5', 57.0), ('0.6', 58.3), ('0.7', 58.5), ('0.8', 58.1),
                            ('0.9', 57.7)]]),
}


def collect(table: str, work_root: str) -> str:
    spec = TABLES[table]
    head = spec['columns'] + [h for _, name in METRICS for h in (f'{name} (paper)',
                                                                   f'{name} (densepre)')]
    head.append('pretraining (densepre)')
    lines = [f'**{spec["caption"]}**', '', '| ' + ' | '.join(head) + ' |',
             '|' + '---|' * len(head)]
    for row in spec['rows']:
        wd = work_dir_of(table, row, work_root)
        ev = read_eval(wd) if osp.isdir(wd) else {}
        cells = list(row['labels'])
        for (key, _), paper in zip(METRICS, row['paper']):
            cells += [_fmt(paper), _fmt(ev.get(key))]
        if not osp.isdir(wd):
            status = 'not run'
        else:
            log = read_pretrain_log(wd)
            status = (f'epoch {log.get("epoch", "?")}/{max_epochs(row["config"])}, '
                      f'loss {log["loss"]:.3f}' if log else 'no log')
        cells.append(status)
        lines.append('| ' + ' | '.join(cells) + ' |')
    lines += ['', 'Paper numbers: CLoVE (ICCV-W 2023) Tables 8-11, VOC07+12 Faster R-CNN R50-C4 '
              'after 50 pretraining epochs. densepre columns: this sweep\'s runs '
              '(`eval/*.json` in each work dir); densepre has not reproduced these tables.']
    return '\n'.join(lines) + '\n'


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    sub = parser.add_subparsers(dest='cmd', required=True)
    p_list = sub.add_parser('list', help='list the tables, or the rows of one table')
    p_list.add_argument('table', nargs='?', choices=sorted(TABLES))
    p_launch = sub.add_parser('launch', help='run (or print) every row of a table')
    p_launch.add_argument('table', choices=sorted(TABLES))
    p_launch.add_argument('--launcher', default='tools/dist_train.sh {config} 4',
                          help='command template ({config} {work_dir} {name} {table})')
    p_launch.add_argument('--rows', nargs='+', help='only these rows (config names)')
    p_launch.add_argument('--dry-run', action='store_true', help='print the commands only')
    p_launch.add_argument('--skip-done', action='store_true',
                          help='skip rows whose final checkpoint exists')
    p_launch.add_argument('--keep-going', action='store_true',
                          help='continue with the next row when one fails')
    p_collect = sub.add_parser('collect', help="the table's layout as markdown")
    p_collect.add_argument('table', choices=sorted(TABLES))
    p_collect.add_argument('--out', help='also write the markdown to this file')
    for p in (p_list, p_launch, p_collect):
        p.add_argument('--work-root', default='work_dirs/clove_sweeps')
    argv = list(sys.argv[1:] if argv is None else argv)
    extra: List[str] = []
    if '--' in argv:
        argv, extra = argv[:argv.index('--')], argv[argv.index('--') + 1:]
    args = parser.parse_args(argv)

    if args.cmd == 'list':
        for name in ([args.table] if args.table else sorted(TABLES)):
            spec = TABLES[name]
            print(f'{name}: {spec["caption"]} ({len(spec["rows"])} runs)')
            for row in spec['rows'] if args.table else []:
                wd = work_dir_of(name, row, args.work_root)
                print(f'  [{"done" if is_done(row["config"], wd) else "todo"}] '
                      f'{row["config"]} -> {wd}')
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
        if args.skip_done and is_done(row['config'], wd):
            print(f'# done, skipped: {row["config"]}')
            continue
        cmd = build_command(args.launcher, args.table, row, wd, extra)
        print(' '.join(shlex.quote(c) for c in cmd), flush=True)
        if args.dry_run:
            continue
        ret = subprocess.call(cmd, cwd=osp.dirname(osp.dirname(osp.dirname(
            osp.abspath(__file__)))))
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
