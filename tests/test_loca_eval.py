"""LOCA Tables 3 / 7 / 9: the class oracle (localisation only) and the multi-label mAP
(classification only) by hand, and ``tools/benchmarks/loc_cls_eval.py`` on tiny checkpoints."""
import json
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from densepre.evaluation.loc_cls import (mean_average_precision, multilabel_targets,
                                         oracle_relabel)
from utils import REPO

SEG_DEMO = osp.join(
    REPO, 'configs/demo/loca-segmenter-linear_vit-tiny-p8_1xb8-300it_demo-voc-64x64.py')
LOCA_DEMO = osp.join(REPO, 'configs/demo/loca_vit-tiny-p8_1xb32-64px-40e_demo.py')


def test_oracle_relabel_by_hand():
    gt = torch.tensor([[0, 0, 1, 1],
                       [0, 0, 1, 1],
                       [2, 2, 2, 255],
                       [2, 2, 2, 255]])
    # class 3 covers the left half: IoU with gt 0 = 4/8, with gt 2 = 4/10 -> 0; class 1 is
    # right of the 1s (IoU 4/6 with gt 1) -> 1; class 5 sits on ignored pixels only -> kept
    pred = torch.tensor([[3, 3, 1, 1],
                         [3, 3, 1, 1],
                         [3, 3, 1, 5],
                         [3, 3, 1, 5]])
    got = oracle_relabel(pred, gt, num_classes=6)
    assert got.tolist() == [[0, 0, 1, 1], [0, 0, 1, 1], [0, 0, 1, 5], [0, 0, 1, 5]]
    # right shapes, wrong classes: the oracle restores the ground truth exactly
    perm = torch.tensor([4, 2, 0, 1, 3, 5])
    valid = gt != 255
    assert torch.equal(oracle_relabel(perm[gt.clamp(max=5)], gt, 6)[valid], gt[valid])
    with pytest.raises(ValueError, match='shape'):
        oracle_relabel(pred[:2], gt, 6)
    with pytest.raises(ValueError, match='class ids'):
        oracle_relabel(pred, gt, 4)


def test_multilabel_targets_and_map_by_hand():
    assert multilabel_targets(torch.tensor([[0, 2], [255, 2]]), 4).tolist() == [1, 0, 1, 0]
    targets = torch.tensor([[1, 0, 0], [0, 1, 0], [1, 1, 0]]).float()
    # class 0: ranks 0.9 (+), 0.8 (-), 0.3 (+): AP = (1 + 2/3) / 2; class 1 perfect; class 2
    # has no positive and is left out
    scores = torch.tensor([[0.9, 0.1, 0.5], [0.8, 0.7, 0.2], [0.3, 0.6, 0.1]])
    assert mean_average_precision(scores, targets) == pytest.approx(
        100 * ((1 + 2 / 3) / 2 + 1) / 2, abs=1e-4)
    with pytest.raises(ValueError, match='no class'):
        mean_average_precision(scores, torch.zeros(3, 3))


def _data_opts(demo_root):
    voc = f'{demo_root}/VOCdevkit/VOC2012'
    return ['--cfg-options', f'train_dataloader.dataset.data_root={voc}',
            f'test_dataloader.dataset.data_root={voc}']


def test_loc_cls_eval_tool_on_tiny_checkpoints(demo_root, tmp_path):
    import loc_cls_eval
    from densepre.registry import MODELS
    from densepre.transfer.downstream import register_scope
    from mmengine.registry import MODELS as ROOT, DefaultScope

    # a "fine-tuned" tiny Segmenter (random weights, the Runner's checkpoint layout)
    cfg = Config.fromfile(SEG_DEMO)
    register_scope(cfg.default_scope)
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        seg = ROOT.build(cfg.model)
    seg.init_weights()
    seg_ckpt = str(tmp_path / 'seg.pth')
    torch.save({'state_dict': seg.state_dict(), 'meta': {'iter': 300}}, seg_ckpt)
    out = tmp_path / 'loc'
    result = loc_cls_eval.main(['loc', SEG_DEMO, seg_ckpt, '--out-dir', str(out)]
                               + _data_opts(demo_root))
    metrics = json.load(open(out / 'metrics.json'))['metrics']
    assert metrics == result['metrics'] and set(metrics) == {'both_mIoU', 'loc_mIoU'}
    assert all(0 <= v <= 100 for v in metrics.values())
    # a model that paints every pixel with class 7 (absent from the demo split): no class is
    # right (mIoU 0), but the oracle gives its one mask the best-IoU ground-truth class
    head = seg.decode_head.conv_seg
    with torch.no_grad():
        head.weight.zero_()
        head.bias.zero_()
        head.bias[7] = 10.
    torch.save({'state_dict': seg.state_dict(), 'meta': {'iter': 300}}, seg_ckpt)
    metrics = loc_cls_eval.main(['loc', SEG_DEMO, seg_ckpt, '--out-dir', str(tmp_path / 'c7')]
                                + _data_opts(demo_root))['metrics']
    assert metrics['both_mIoU'] == 0 and metrics['loc_mIoU'] > 0

    # a LOCA pretraining checkpoint: classification only, frozen and end to end, teacher
    loca = MODELS.build(Config.fromfile(LOCA_DEMO).model)
    loca.init_weights()
    ckpt = str(tmp_path / 'loca.pth')
    torch.save({'state_dict': loca.state_dict(), 'meta': {'epoch': 40}}, ckpt)
    for extra in ([], ['--finetune']):
        out = tmp_path / f'cls{len(extra)}'
        result = loc_cls_eval.main(['cls', SEG_DEMO, ckpt, '--teacher', '--epochs', '2',
                                    '--batch-size', '4', '--out-dir', str(out)] + extra
                                   + _data_opts(demo_root))
        metrics = result['metrics']
        assert 0 < metrics['mAP'] <= 100 and metrics['test_images'] == 4
        assert json.load(open(out / 'metrics.json'))['metrics'] == metrics

    # a pretraining checkpoint is not a fine-tuned segmentation model
    with pytest.raises(KeyError, match='not in the checkpoint'):
        loc_cls_eval.main(['loc', SEG_DEMO, ckpt, '--out-dir', str(tmp_path / 'bad')]
                          + _data_opts(demo_root))
