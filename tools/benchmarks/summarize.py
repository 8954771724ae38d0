"""Collect finished benchmark runs into a markdown table (method x metric), papers beside ours.

    python tools/benchmarks/summarize.py WORK_DIR [WORK_DIR ...] [--out table.md] [--no-paper]

Each WORK_DIR (searched recursively) may hold `metrics.json` files written by
tools/benchmarks/*.sh. One table per benchmark: our rows are named after the pretraining run
(its work dir and checkpoint); runs of one checkpoint on one benchmark (e.g. `--seeds N`) are one
row, `mean ± std` (sample std) with the number of runs; the papers' rows are marked "(paper)".
"""
import argparse
import glob
import json
import math
import os.path as osp
from collections import defaultdict

from paper_results import FRACTION_METRIC_PREFIXES, METRIC_NAMES, PAPER


def method_label(checkpoint: str) -> str:
    if checkpoint == 'none':
        return 'random init'
    run, ckpt = osp.basename(osp.dirname(checkpoint)), osp.splitext(osp.basename(checkpoint))[0]
    return f'{run} ({ckpt})' if run else ckpt


def collect(work_dirs):
    rows = defaultdict(lambda: defaultdict(list))  # benchmark -> {method: [{metric: value}]}
    files = sorted({f for d in work_dirs for f in (
        [d] if d.endswith('.json') else glob.glob(osp.join(d, '**', 'metrics.json'),
                                                  recursive=True))})
    if not files:
        raise FileNotFoundError(f'no metrics.json below {work_dirs}')
    for path in files:
        with open(path) as f:
            result = json.load(f)
        metrics = {METRIC_NAMES.get(k, k): v * 100 if k.startswith(FRACTION_METRIC_PREFIXES) else v
                   for k, v in result['metrics'].items()}
        rows[result['benchmark']][method_label(result['checkpoint'])].append(metrics)
    return rows, files


def mean_std(values):
    """(mean, sample standard deviation or None for one run)."""
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, None
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def table(benchmark, ours, with_paper=True):
    paper = PAPER.get(benchmark, {}) if with_paper else {}
    ours_metrics = {m for runs in ours.values() for run in runs for m in run}
    metrics = list(paper) or sorted(ours_metrics)
    extra = sorted(ours_metrics - set(metrics))
    metrics += [m for m in extra if m in ('mAcc', 'aAcc', 'top-5')] if paper else []
    lines = [f'### {benchmark}', '', '| method | runs | ' + ' | '.join(metrics) + ' |',
             '|---|---|' + '---|' * len(metrics)]
    fmt = lambda v: '-' if v is None else f'{v:.2f}'  # noqa: E731

    def cell(values):
        if not values:
            return '-'
        mean, std = mean_std(values)
        return fmt(mean) if std is None else f'{mean:.2f} ± {std:.2f}'

    for method, runs in sorted(ours.items()):
        lines.append(f'| {method} | {len(runs)} | ' + ' | '.join(
            cell([run[m] for run in runs if m in run]) for m in metrics) + ' |')
    for method in sorted({m for per in paper.values() for m in per}):
        lines.append(f'| {method} (paper) | - | ' + ' | '.join(
            fmt(paper.get(m, {}).get(method)) for m in metrics) + ' |')
    return '\n'.join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('work_dirs', nargs='+')
    parser.add_argument('--out')
    parser.add_argument('--no-paper', action='store_true')
    args = parser.parse_args(argv)
    rows, files = collect(args.work_dirs)
    text = '\n\n'.join(table(b, rows[b], not args.no_paper) for b in sorted(rows))
    text += (f'\n\n({len(files)} runs; several runs of a checkpoint: mean ± sample std; '
             'paper rows are the papers\' numbers, not densepre runs)\n')
    if args.out:
        with open(args.out, 'w') as f:
            f.write(text)
    print(text)
    return text


if __name__ == '__main__':
    main()
