"""The launch / collect machinery shared by the ablation-sweep tools (``lewel_sweep.py``,
``clove_sweep.py``): a tool declares its tables and metrics as a :class:`Sweep`.

A table is ``dict(caption=..., columns=[label column names], rows=[dict(config=..., labels=[...],
paper=[one paper number (or None) per metric]), ...])``; a metric is ``(eval key, display
name)``. A row's work dir is ``<work-root>/<table>/<config name>``; the launcher is a command
template with ``{config}``, ``{work_dir}``, ``{name}`` (row id) and ``{table}`` (without
``{work_dir}``, ``--work-dir {work_dir}`` is appended); arguments after ``--`` go to every command.
Collecting reads a run's pretraining log (``<work_dir>/*/vis_data/scalars.json``) and its
``<work_dir>/eval/*.json`` (flat JSON: metric -> value).
"""
import argparse
import glob
import json
import os.path as osp
import shlex
import subprocess
import sys
from typing import Dict, List, Optional, Sequence, Tuple

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


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


def fmt(v) -> str:
    return '-' if v is None else (f'{v:.1f}' if isinstance(v, (int, float)) else str(v))


def plot_table(spec: dict, metrics: Sequence[Tuple[str, str]], work_root: str, table: str,
               out: str) -> List[str]:
    """The ablation figure of a table (e.g. LEWEL Fig. 3's beta / c curves, CLoVE's Tpos): per
    metric, the paper's numbers and this sweep's against the table's rows (x tick = the row's
    labels). Returns the plotted series names."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    rows = spec['rows']
    ticks = [' / '.join(str(v) for v in row['labels']) for row in rows]
    evals = [read_eval(work_dir_of(table, row, work_root)) for row in rows]
    fig, axes = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 3.4), squeeze=False)
    series = []
    for ax, (m, (key, name)) in zip(axes[0], enumerate(metrics)):
        for label, values, style in (
                ('paper', [row['paper'][m] for row in rows], 'o--'),
                ('densepre', [ev.get(key) for ev in evals], 's-')):
            pts = [(i, v) for i, v in enumerate(values) if v is not None]
            if pts:
                ax.plot(*zip(*pts), style, label=label)
                series.append(f'{name} ({label})')
        ax.set_xticks(range(len(rows)), ticks, rotation=45, ha='right', fontsize=7)
        ax.set_title(name, fontsize=9)
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=8)
    fig.suptitle(spec['caption'], fontsize=9)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return series


class Sweep:
    """The ``list`` / ``launch`` / ``collect`` command line of one tool's ablation tables.

    Args:
        tables: table name -> table (see the module docstring).
        metrics: ``(eval key, display name)`` per paper-number column.
        footnote: the line under a collected table (where the paper numbers come from).
        work_root, launcher: defaults of ``--work-root`` and ``--launcher``.
        description: the tool's one-line description (``--help``).
    """

    def __init__(self, tables: Dict[str, dict], metrics: Sequence[Tuple[str, str]],
                 footnote: str, work_root: str, launcher: str, description: str) -> None:
        self.tables = tables
        self.metrics = list(metrics)
        self.footnote = footnote
        self.work_root = work_root
        self.launcher = launcher
        self.description = description

    def collect(self, table: str, work_root: str) -> str:
        """Markdown table: the label columns, then per metric the paper's number beside this
        sweep's, then the pretraining status of the row's run."""
        spec = self.tables[table]
        head = spec['columns'] + [h for _, name in self.metrics
                                  for h in (f'{name} (paper)', f'{name} (densepre)')]
        head.append('pretraining (densepre)')
        lines = [f'**{spec["caption"]}**', '', '| ' + ' | '.join(head) + ' |',
                 '|' + '---|' * len(head)]
        for row in spec['rows']:
            wd = work_dir_of(table, row, work_root)
            ev = read_eval(wd) if osp.isdir(wd) else {}
            cells = list(row['labels'])
            for (key, _), paper in zip(self.metrics, row['paper']):
                cells += [fmt(paper), fmt(ev.get(key))]
            if not osp.isdir(wd):
                status = 'not run'
            else:
                log = read_pretrain_log(wd)
                status = (f'epoch {log.get("epoch", "?")}/{max_epochs(row["config"])}, '
                          f'loss {log["loss"]:.3f}' if log else 'no log')
            cells.append(status)
            lines.append('| ' + ' | '.join(cells) + ' |')
        lines += ['', self.footnote]
        return '\n'.join(lines) + '\n'

    def main(self, argv: Optional[List[str]] = None) -> int:
        tables = self.tables
        parser = argparse.ArgumentParser(description=self.description)
        sub = parser.add_subparsers(dest='cmd', required=True)
        p_list = sub.add_parser('list', help='list the tables, or the rows of one table')
        p_list.add_argument('table', nargs='?', choices=sorted(tables))
        p_launch = sub.add_parser('launch', help='run (or print) every row of a table')
        p_launch.add_argument('table', choices=sorted(tables))
        p_launch.add_argument('--launcher', default=self.launcher,
                              help='command template ({config} {work_dir} {name} {table})')
        p_launch.add_argument('--rows', nargs='+', help='only these rows (config names)')
        p_launch.add_argument('--dry-run', action='store_true', help='print the commands only')
        p_launch.add_argument('--skip-done', action='store_true',
                              help='skip rows whose final checkpoint exists')
        p_launch.add_argument('--keep-going', action='store_true',
                              help='continue with the next row when one fails')
        p_collect = sub.add_parser('collect', help="the table's layout as markdown")
        p_collect.add_argument('table', choices=sorted(tables))
        p_collect.add_argument('--out', help='also write the markdown to this file, and the '
                               "table's figure beside it (same name, .png)")
        for p in (p_list, p_launch, p_collect):
            p.add_argument('--work-root', default=self.work_root)
        argv = list(sys.argv[1:] if argv is None else argv)
        extra: List[str] = []
        if '--' in argv:
            argv, extra = argv[:argv.index('--')], argv[argv.index('--') + 1:]
        args = parser.parse_args(argv)

        if args.cmd == 'list':
            for name in ([args.table] if args.table else sorted(tables)):
                spec = tables[name]
                print(f'{name}: {spec["caption"]} ({len(spec["rows"])} runs)')
                for row in spec['rows'] if args.table else []:
                    wd = work_dir_of(name, row, args.work_root)
                    print(f'  [{"done" if is_done(row["config"], wd) else "todo"}] '
                          f'{row["config"]} -> {wd}')
            return 0
        if args.cmd == 'collect':
            md = self.collect(args.table, args.work_root)
            print(md, end='')
            if args.out:
                with open(args.out, 'w') as f:
                    f.write(md)
                png = osp.splitext(args.out)[0] + '.png'
                series = plot_table(tables[args.table], self.metrics, args.work_root,
                                    args.table, png)
                print(f'# figure: {png} ({", ".join(series) or "nothing to plot yet"})',
                      file=sys.stderr)  # stdout stays the markdown table
            return 0

        rows = tables[args.table]['rows']
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
