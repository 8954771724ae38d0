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
import os.path as osp
import sys
from typing import Dict, List, Optional

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
import _sweep  # noqa: E402

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


SWEEP = _sweep.Sweep(
    TABLES, METRICS,
    footnote=('Paper numbers: LEWEL (CVPR 2022) Tables 5-7, IN-100 linear top-1 and VOC12 '
              'FCN mIoU. densepre columns: this sweep\'s runs (`eval/*.json` in each work '
              'dir); densepre has not reproduced these tables at the paper\'s scale.'),
    work_root='work_dirs/lewel_sweeps', launcher='tools/dist_train.sh {config} 8',
    description=__doc__.split('\n')[0])
collect, main = SWEEP.collect, SWEEP.main


if __name__ == '__main__':
    sys.exit(main())
