"""tools/benchmarks/summarize.py turns metrics.json files into the papers' table layout, with
mean ± std over the runs (seeds) of one checkpoint."""
import json
import os
import os.path as osp
import statistics
import subprocess

import pytest

import summarize  # noqa: E402  (tools/benchmarks on the path, see conftest)
from utils import PYTHON, REPO, TINY, data_opts, run_train


def write(path, benchmark, checkpoint, metrics):
    path.mkdir(parents=True)
    (path / 'metrics.json').write_text(json.dumps(dict(
        benchmark=benchmark, config='c.py', checkpoint=checkpoint, metrics=metrics)))


def test_table_has_ours_and_paper_rows(tmp_path):
    write(tmp_path / 'a', 'voc_seg', '/w/lewel_b_r50_8xb64_200e/epoch_200.pth',
          {'mIoU': 12.345, 'mAcc': 20.0, 'aAcc': 80.0})
    write(tmp_path / 'b', 'voc_seg', 'none', {'mIoU': 5.0, 'mAcc': 9.0, 'aAcc': 70.0})
    write(tmp_path / 'c', 'voc_det', '/w/byol/epoch_1.pth',
          {'pascal_voc/mAP': 0.015, 'pascal_voc/AP50': 0.03, 'pascal_voc/AP75': 0.005})
    text = summarize.main([str(tmp_path), '--out', str(tmp_path / 't.md')])
    assert '| lewel_b_r50_8xb64_200e (epoch_200) | 1 | 12.35 |' in text
    assert '| random init | 1 | 5.00 |' in text
    assert '| LEWEL_B 200e (LEWEL T3) (paper) | - | 67.80 |' in text
    assert '| method | runs | AP | AP50 | AP75 |' in text
    assert '| byol (epoch_1) | 1 | 1.50 | 3.00 | 0.50 |' in text
    assert (tmp_path / 't.md').read_text() == text


def test_no_runs_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match='no metrics.json'):
        summarize.main([str(tmp_path)])


def test_runs_of_one_checkpoint_are_mean_and_sample_std(tmp_path):
    values = [70.1, 71.3, 69.8]
    for seed, v in enumerate(values):
        write(tmp_path / f'seed{seed}', 'voc_seg', '/w/lewel/epoch_200.pth', {'mIoU': v})
    text = summarize.main([str(tmp_path), '--no-paper'])
    mean, std = statistics.mean(values), statistics.stdev(values)
    assert f'| lewel (epoch_200) | 3 | {mean:.2f} ± {std:.2f} |' in text
    assert '| lewel (epoch_200) | 3 | 70.40 ± 0.79 |' in text  # by hand: sqrt(1.26 / 2)


@pytest.mark.slow
def test_seeds_on_demo_runs(demo_root, tmp_path):
    """voc_seg.sh --seeds 2 on the demo data: two work dirs seed0 / seed1 with their own seed, and
    summarize.py reports the checkpoint's row as mean ± std over 2 runs."""
    run_train(TINY['mocov2'], tmp_path / 'pre', *data_opts(demo_root), 'train_cfg.max_epochs=1')
    voc = f'{demo_root}/VOCdevkit/VOC2012'
    env = dict(os.environ, PYTHON=PYTHON, OMP_NUM_THREADS='1', PYTHONPATH=REPO,
               CONFIG=osp.join(REPO, 'configs/demo/fcn_r18-d8_1xb8-300it_demo-voc-96x96.py'))
    proc = subprocess.run(
        ['bash', osp.join(REPO, 'tools/benchmarks/voc_seg.sh'), str(tmp_path / 'pre/epoch_1.pth'),
         '--seeds', '2', '--work-dir', str(tmp_path / 'seg'), '--cfg-options',
         f'train_dataloader.dataset.data_root={voc}', f'val_dataloader.dataset.data_root={voc}',
         f'test_dataloader.dataset.data_root={voc}', 'train_cfg.max_iters=2',
         'train_cfg.val_interval=2'], capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = [json.load(open(tmp_path / f'seg/seed{i}/metrics.json')) for i in range(2)]
    assert [r['seed'] for r in results] == [0, 1]
    text = summarize.main([str(tmp_path / 'seg')])
    row = [line for line in text.splitlines() if line.startswith('| pre (epoch_1) |')]
    assert len(row) == 1 and row[0].startswith('| pre (epoch_1) | 2 | ') and ' ± ' in row[0], text


def test_clove_and_revisiting_paper_rows():
    """A few of the CLoVE (Tables 1-4, 6) and Revisiting (Tables 4-6, 9) numbers, copied from the
    papers, under the benchmark names the tools write."""
    from paper_results import PAPER
    assert PAPER['coco_det_c4_1x']['mask AP75']['CLoVE 400e (CLoVE T1)'] == 38.1
    assert PAPER['coco_det_fpn_1x']['box AP']['CLoVE 200e (CLoVE T2)'] == 40.8
    assert PAPER['cityscapes_det']['AP50']['CLoVE 400e (CLoVE T3)'] == 65.3
    assert PAPER['lvis_det']['mask AP']['CLoVE 200e (CLoVE T4)'] == 23.3
    assert PAPER['voc_det']['AP75']['CLoVE 200e (CLoVE T6)'] == 67.7
    assert PAPER['voc_seg_revisiting']['mIoU']['MoCo 200e (Revisiting T4)'] == 66.2
    assert PAPER['cityscapes_seg']['mIoU']['MoCo+CC+A+ +kNN 800e (Revisiting T9)'] == 72.3
    davis = PAPER['davis2017_propagation']
    assert davis['J&F-Mean']['MoCo+CC+A+ +kNN 800e (Revisiting T9)'] == 66.2
    assert davis['F-Mean']['MoCo+MC 200e (Revisiting T5)'] == 69.4
    assert PAPER['voc12_segment_retrieval']['mIoU']['MoCo 200e (Revisiting T6)'] == 28.1
    assert list(PAPER['coco_det_c4_1x']) == ['box AP', 'box AP50', 'box AP75', 'mask AP',
                                             'mask AP50', 'mask AP75']


def test_new_benchmarks_put_paper_rows_beside_measured_ones(tmp_path):
    """mmdet's LVIS / Cityscapes keys (fractions) and the frozen tools' keys land in the papers'
    columns."""
    write(tmp_path / 'lvis', 'lvis_det', '/w/clove_r50/epoch_200.pth',
          {'lvis/bbox_AP': 0.2, 'lvis/bbox_AP50': 0.35, 'lvis/bbox_AP75': 0.21,
           'lvis/segm_AP': 0.19, 'lvis/segm_AP50': 0.3, 'lvis/segm_AP75': 0.2,
           'lvis/bbox_APr': 0.1})
    write(tmp_path / 'city', 'cityscapes_det', '/w/clove_r50/epoch_200.pth',
          {'cityscapes/mAP': 0.3125, 'cityscapes/AP@50': 0.6, 'coco/bbox_mAP': 0.3})
    write(tmp_path / 'davis', 'davis2017_propagation', '/w/mocov2-mc/epoch_200.pth',
          {'J&F-Mean': 62.0, 'J-Mean': 60.0, 'F-Mean': 64.0, 'J-Recall': 70.0})
    text = summarize.main([str(tmp_path)])
    lvis = text[text.index('### lvis_det'):]
    assert lvis.startswith('### lvis_det\n\n| method | runs | box AP | box AP50 | box AP75 | '
                           'mask AP | mask AP50 | mask AP75 |\n')
    assert '| clove_r50 (epoch_200) | 1 | 20.00 | 35.00 | 21.00 | 19.00 | 30.00 | 20.00 |' in lvis
    assert ('| CLoVE 200e (CLoVE T4) (paper) | - | 23.60 | 37.70 | 25.20 | 23.30 | 35.90 | 24.80 |'
            in lvis)
    assert '| method | runs | AP | AP50 |' in text
    assert '| clove_r50 (epoch_200) | 1 | 31.25 | 60.00 |' in text
    assert '| CLoVE 400e (CLoVE T3) (paper) | - | 37.20 | 65.30 |' in text
    assert '| method | runs | J-Mean | F-Mean | J&F-Mean |' in text
    assert '| mocov2-mc (epoch_200) | 1 | 60.00 | 64.00 | 62.00 |' in text
    assert '| MoCo+MC 200e (Revisiting T5) (paper) | - | 64.30 | 69.40 | - |' in text
    assert '| Rand. init. (Revisiting T9) (paper) | - | - | - | 40.80 |' in text
