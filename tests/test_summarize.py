"""tools/benchmarks/summarize.py turns metrics.json files into the papers' table layout."""
import json

import pytest

import summarize  # noqa: E402  (tools/benchmarks on the path, see conftest)


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
    assert '| lewel_b_r50_8xb64_200e (epoch_200) | 12.35 |' in text
    assert '| random init | 5.00 |' in text
    assert '| LEWEL_B 200e (LEWEL T3) (paper) | 67.80 |' in text
    assert '| method | AP | AP50 | AP75 |' in text and '| byol (epoch_1) | 1.50 | 3.00 | 0.50 |' in text
    assert (tmp_path / 't.md').read_text() == text


def test_no_runs_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match='no metrics.json'):
        summarize.main([str(tmp_path)])
