"""Training curves and training time from MMEngine work dirs (like mmpretrain's analyze_logs).

    python tools/analysis_tools/analyze_logs.py plot_curve WORK_DIR [WORK_DIR ...] \
        --keys loss lr [--xaxis iter|epoch] [--legend A B ...] --out curves.png
    python tools/analysis_tools/analyze_logs.py cal_train_time WORK_DIR [WORK_DIR ...]

A work dir's records are read from every run in it (``<work_dir>/<timestamp>/vis_data/
scalars.json``, resumed runs included; a later run's record of an iteration replaces the earlier
one). Several work dirs go on one figure, one axes per key.
"""
import argparse
import glob
import json
import os.path as osp
import sys
from typing import Dict, List


def read_records(work_dir: str) -> List[dict]:
    """Training records (those with ``iter``) of every run in ``work_dir``, by iteration."""
    paths = sorted(glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json')))
    if not paths:
        raise FileNotFoundError(f'{work_dir}: no */vis_data/scalars.json (is it a work dir of '
                                'tools/train.py?)')
    by_iter: Dict[int, dict] = {}
    for path in paths:
        with open(path) as f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError as e:
                    raise ValueError(f'{path}:{n}: not a JSON record ({e})') from None
                if 'iter' in rec:  # training records (validation ones have only 'step')
                    by_iter[int(rec['iter'])] = rec
    return [by_iter[i] for i in sorted(by_iter)]


def plot_curve(work_dirs, keys, out, xaxis='iter', legend=None, title=None):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    legend = legend or [osp.basename(osp.normpath(w)) for w in work_dirs]
    if len(legend) != len(work_dirs):
        raise ValueError(f'--legend has {len(legend)} names for {len(work_dirs)} work dirs')
    records = [read_records(w) for w in work_dirs]
    fig, axes = plt.subplots(len(keys), 1, figsize=(7, 2.6 * len(keys)), squeeze=False)
    plotted = {}
    for ax, key in zip(axes[:, 0], keys):
        for name, recs in zip(legend, records):
            pts = [(r[xaxis], r[key]) for r in recs if key in r and xaxis in r]
            if pts:
                ax.plot(*zip(*pts), label=name)
                plotted.setdefault(key, []).append(name)
        ax.set_ylabel(key)
        ax.set_xlabel(xaxis)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    missing = [k for k in keys if k not in plotted]
    if missing:
        known = sorted({k for recs in records for r in recs for k in r})
        raise KeyError(f'no record has {missing}; logged keys: {known}')
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return plotted


def cal_train_time(work_dir: str) -> dict:
    """Seconds per iteration (MMEngine's ``time`` field: data + step) over the logged records:
    mean, slowest and fastest logged interval, and the total of the logged iterations."""
    times = [(r['iter'], r['time']) for r in read_records(work_dir) if 'time' in r]
    if not times:
        raise ValueError(f'{work_dir}: no record has a `time` field')
    values = [t for _, t in times]
    return dict(work_dir=work_dir, records=len(values), mean=sum(values) / len(values),
                slowest=max(times, key=lambda x: x[1]), fastest=min(times, key=lambda x: x[1]),
                last_iter=times[-1][0])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    sub = parser.add_subparsers(dest='cmd', required=True)
    p = sub.add_parser('plot_curve', help='curves of logged keys, several runs on one figure')
    p.add_argument('work_dirs', nargs='+')
    p.add_argument('--keys', nargs='+', default=['loss'])
    p.add_argument('--xaxis', choices=['iter', 'epoch'], default='iter')
    p.add_argument('--legend', nargs='+')
    p.add_argument('--title')
    p.add_argument('--out', required=True, help='image file (.png, .pdf, ...)')
    t = sub.add_parser('cal_train_time', help='time per iteration of each work dir')
    t.add_argument('work_dirs', nargs='+')
    args = parser.parse_args(argv)
    try:
        if args.cmd == 'plot_curve':
            plotted = plot_curve(args.work_dirs, args.keys, args.out, args.xaxis, args.legend,
                                 args.title)
            print(f'wrote {args.out}: ' + '; '.join(f'{k}: {", ".join(v)}'
                                                  for k, v in plotted.items()))
        else:
            for wd in args.work_dirs:
                s = cal_train_time(wd)
                print(f'{wd}: {s["records"]} logged iterations up to iter {s["last_iter"]}; '
                      f'{s["mean"]:.4f} s/iter on average; slowest iter {s["slowest"][0]} '
                      f'({s["slowest"][1]:.4f} s), fastest iter {s["fastest"][0]} '
                      f'({s["fastest"][1]:.4f} s)')
    except (FileNotFoundError, KeyError, ValueError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
