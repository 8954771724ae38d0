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
``lewel_sweep.py`` (both use ``_sweep.py``). Collecting reads each run's pretraining log
and its ``<work_dir>/eval/*.json`` (flat JSON: metric -> value, written by the evaluation jobs)
under the keys ``voc07_det_ap``, ``voc07_det_ap50``, ``voc07_det_ap75`` (percent); a missing
value is ``-``. The paper's numbers stay the paper's: densepre has not run these tables.
"""
import os.path as osp
import sys
from typing import Dict, List, Optional

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
import _sweep  # noqa: E402

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


SWEEP = _sweep.Sweep(
    TABLES, METRICS,
    footnote=('Paper numbers: CLoVE (ICCV-W 2023) Tables 8-11, VOC07+12 Faster R-CNN '
              'R50-C4 after 50 pretraining epochs. densepre columns: this sweep\'s runs '
              '(`eval/*.json` in each work dir); densepre has not reproduced these tables.'),
    work_root='work_dirs/clove_sweeps', launcher='tools/dist_train.sh {config} 4',
    description=__doc__.split('\n')[0])
collect, main = SWEEP.collect, SWEEP.main


if __name__ == '__main__':
    sys.exit(main())
