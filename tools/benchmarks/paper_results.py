"""Reference numbers from the papers, for tools/benchmarks/summarize.py.

Keyed by benchmark name (the ``--benchmark`` name the tools/benchmarks/*.sh scripts use, or the
``benchmark`` the frozen-feature tools write: ``feature_probe_voc07``, ``davis2017_propagation``,
``voc12_segment_retrieval``) and by canonical metric name (see ``METRIC_NAMES``). Each entry:
{method label: value}. Rows marked ``*`` are the papers' own reproductions of the baselines.
"""

# mmseg / mmdet / mmpretrain metric keys -> canonical names used in the tables.
METRIC_NAMES = {
    'mIoU': 'mIoU',
    'pascal_voc/mAP': 'AP',
    'pascal_voc/AP50': 'AP50',
    'pascal_voc/AP75': 'AP75',
    'coco/bbox_mAP': 'box AP',
    'coco/bbox_mAP_50': 'box AP50',
    'coco/bbox_mAP_75': 'box AP75',
    'coco/segm_mAP': 'mask AP',
    'coco/segm_mAP_50': 'mask AP50',
    'coco/segm_mAP_75': 'mask AP75',
    'accuracy/top1': 'top-1',
    'accuracy/top5': 'top-5',
    'accuracy_top1': 'top-1',  # tools/benchmarks/feature_probe.py --data imagelist
    'lvis/bbox_AP': 'box AP',
    'lvis/bbox_AP50': 'box AP50',
    'lvis/bbox_AP75': 'box AP75',
    'lvis/segm_AP': 'mask AP',
    'lvis/segm_AP50': 'mask AP50',
    'lvis/segm_AP75': 'mask AP75',
    'cityscapes/mAP': 'AP',  # cityscapesscripts instance AP (mmdet CityScapesMetric)
    'cityscapes/AP@50': 'AP50',
}

# mmdet reports AP in [0, 1]; the papers (and mmseg / mmpretrain) use percent.
FRACTION_METRIC_PREFIXES = ('pascal_voc/', 'coco/', 'lvis/', 'cityscapes/')

PAPER = {
    # LEWEL Table 3: VOC07+12 Faster R-CNN R50-C4 (AP, AP50, AP75) and VOC12aug FCN (mIoU).
    'voc_det': {
        'AP': {'MoCo v2* 200e (LEWEL T3)': 57.0, 'BYOL* 200e (LEWEL T3)': 55.8,
               'LEWEL_M 200e (LEWEL T3)': 57.3, 'LEWEL_B 200e (LEWEL T3)': 56.5,
               'LEWEL_M 100e (LEWEL T3)': 56.5, 'LEWEL_B 100e (LEWEL T3)': 56.1},
        'AP50': {'MoCo v2* 200e (LEWEL T3)': 82.2, 'BYOL* 200e (LEWEL T3)': 81.6,
                 'LEWEL_M 200e (LEWEL T3)': 82.3, 'LEWEL_B 200e (LEWEL T3)': 82.6,
                 'LEWEL_M 100e (LEWEL T3)': 82.1, 'LEWEL_B 100e (LEWEL T3)': 82.1},
        'AP75': {'MoCo v2* 200e (LEWEL T3)': 63.4, 'BYOL* 200e (LEWEL T3)': 61.6,
                 'LEWEL_M 200e (LEWEL T3)': 63.6, 'LEWEL_B 200e (LEWEL T3)': 63.7,
                 'LEWEL_M 100e (LEWEL T3)': 63.0, 'LEWEL_B 100e (LEWEL T3)': 62.3},
    },
    'voc_seg': {
        'mIoU': {'MoCo v2* 100e (LEWEL T3)': 66.3, 'BYOL* 100e (LEWEL T3)': 66.9,
                 'LEWEL_M 100e (LEWEL T3)': 66.8, 'LEWEL_B 100e (LEWEL T3)': 67.6,
                 'MoCo v2* 200e (LEWEL T3)': 66.7, 'BYOL* 200e (LEWEL T3)': 67.2,
                 'LEWEL_M 200e (LEWEL T3)': 67.2, 'LEWEL_B 200e (LEWEL T3)': 67.8},
    },
    # LEWEL Table 4: COCO Mask R-CNN, 200-epoch pretraining, 1x schedule.
    'coco_det_c4_1x': {
        'box AP': {'MoCo v2* (LEWEL T4)': 38.8, 'BYOL* (LEWEL T4)': 38.1,
                   'LEWEL_M (LEWEL T4)': 38.9, 'LEWEL_B (LEWEL T4)': 38.5},
        'mask AP': {'MoCo v2* (LEWEL T4)': 34.0, 'BYOL* (LEWEL T4)': 33.3,
                    'LEWEL_M (LEWEL T4)': 34.1, 'LEWEL_B (LEWEL T4)': 33.7},
    },
    'coco_det_fpn_1x': {
        'box AP': {'LEWEL_M (LEWEL T4)': 40.0, 'LEWEL_B (LEWEL T4)': 41.3},
        'mask AP': {'LEWEL_M (LEWEL T4)': 36.1, 'LEWEL_B (LEWEL T4)': 37.4},
    },
    # LEWEL Table 1: IN-1K linear (M protocol for MoCo v2* / LEWEL_M, B for BYOL* / LEWEL_B).
    'linear_cls_lewel_m': {
        'top-1': {'MoCo v2* 100e (LEWEL T1)': 64.5, 'LEWEL_M 100e (LEWEL T1)': 66.1,
                  'MoCo v2* 200e (LEWEL T1)': 67.5, 'LEWEL_M 200e (LEWEL T1)': 68.4},
        'top-5': {'MoCo v2* 100e (LEWEL T1)': 86.1, 'LEWEL_M 100e (LEWEL T1)': 87.2,
                  'MoCo v2* 200e (LEWEL T1)': 88.1, 'LEWEL_M 200e (LEWEL T1)': 88.6},
    },
    'linear_cls_lewel_b': {
        'top-1': {'BYOL* 100e (LEWEL T1)': 70.6, 'LEWEL_B 100e (LEWEL T1)': 71.9,
                  'BYOL* 200e (LEWEL T1)': 71.9, 'LEWEL_B 200e (LEWEL T1)': 72.8,
                  'LEWEL_B 400e (LEWEL T1)': 73.8},
        'top-5': {'BYOL* 100e (LEWEL T1)': 89.9, 'LEWEL_B 100e (LEWEL T1)': 90.5,
                  'BYOL* 200e (LEWEL T1)': 90.4, 'LEWEL_B 200e (LEWEL T1)': 91.0},
    },
    # LEWEL Table 2: semi-supervised IN-1K.
    'semi_cls_1pct': {
        'top-1': {'MoCo v2* 200e (LEWEL T2)': 43.8, 'BYOL* 200e (LEWEL T2)': 54.8,
                  'LEWEL_M 200e (LEWEL T2)': 45.1, 'LEWEL_B 200e (LEWEL T2)': 56.1,
                  'LEWEL_B 400e (LEWEL T2)': 59.8},
        'top-5': {'MoCo v2* 200e (LEWEL T2)': 72.3, 'BYOL* 200e (LEWEL T2)': 78.8,
                  'LEWEL_M 200e (LEWEL T2)': 71.1, 'LEWEL_B 200e (LEWEL T2)': 79.9,
                  'LEWEL_B 400e (LEWEL T2)': 83.2},
    },
    'semi_cls_10pct': {
        'top-1': {'MoCo v2* 200e (LEWEL T2)': 61.9, 'BYOL* 200e (LEWEL T2)': 68.0,
                  'LEWEL_M 200e (LEWEL T2)': 62.5, 'LEWEL_B 200e (LEWEL T2)': 68.7,
                  'LEWEL_B 400e (LEWEL T2)': 70.4},
        'top-5': {'MoCo v2* 200e (LEWEL T2)': 84.6, 'BYOL* 200e (LEWEL T2)': 88.5,
                  'LEWEL_M 200e (LEWEL T2)': 84.9, 'LEWEL_B 200e (LEWEL T2)': 88.9,
                  'LEWEL_B 400e (LEWEL T2)': 90.1},
    },
    # LOCA Table 1: Segmenter linear decoder, ViT-B/16, IN-1K pretraining.
    'ade20k_linear': {
        'mIoU': {'Random init. (LOCA T1)': 21.1, 'DINO (LOCA T1)': 44.1, 'MAE (LOCA T1)': 45.5,
                 'DeiT-III sup. (LOCA T1)': 47.3, 'LOCA (LOCA T1)': 47.9},
    },
    'pcontext_linear': {
        'mIoU': {'Random init. (LOCA T1)': 19.6, 'DINO (LOCA T1)': 50.7, 'MAE (LOCA T1)': 51.7,
                 'DeiT-III sup. (LOCA T1)': 53.9, 'LOCA (LOCA T1)': 54.9},
    },
    'voc_linear': {
        'mIoU': {'Random init. (LOCA T1)': 29.1, 'DINO (LOCA T1)': 74.1, 'MAE (LOCA T1)': 75.0,
                 'DeiT-III sup. (LOCA T1)': 76.1, 'LOCA (LOCA T1)': 76.7},
    },
    'cityscapes_linear': {
        'mIoU': {'Random init. (LOCA T1)': 51.4, 'DINO (LOCA T1)': 78.4, 'MAE (LOCA T1)': 79.7,
                 'DeiT-III sup. (LOCA T1)': 79.7, 'LOCA (LOCA T1)': 79.8},
    },
}

# LOCA Table 2 (few-shot ADE20k, mean of 5 folds), repeated under each fold's benchmark name.
_LOCA_FEWSHOT = {'1-32': 22.2, '1-16': 30.0, '1-8': 34.4, '1-4': 39.1, '1-2': 42.8, '1': 47.9}
_MAE_FEWSHOT = {'1-32': 18.4, '1-16': 25.3, '1-8': 30.5, '1-4': 36.1, '1-2': 40.6, '1': 45.5}
for _frac, _loca in _LOCA_FEWSHOT.items():
    for _fold in range(5):
        PAPER[f'ade20k_fewshot_frac{_frac}_fold{_fold}'] = {
            'mIoU': {'LOCA, 5-fold mean (LOCA T2)': _loca,
                     'MAE, 5-fold mean (LOCA T2)': _MAE_FEWSHOT[_frac]}}


def _add_table(benchmark, metrics, rows):
    """Add one paper table: ``rows`` = {label: values in the order of ``metrics``}, ``None`` where
    the paper gives no number."""
    for label, values in rows.items():
        assert len(values) == len(metrics), (benchmark, label)
        for metric, value in zip(metrics, values):
            if value is not None:
                PAPER.setdefault(benchmark, {}).setdefault(metric, {})[label] = value


_BOX_MASK = ('box AP', 'box AP50', 'box AP75', 'mask AP', 'mask AP50', 'mask AP75')
# CLoVE Table 1: COCO Mask R-CNN R50-C4 1x (APbb, APbb50, APbb75, APmk, APmk50, APmk75).
_add_table('coco_det_c4_1x', _BOX_MASK, {
    'Supervised 100e (CLoVE T1)': (38.2, 58.2, 41.2, 33.3, 54.7, 35.2),
    'Rand init (CLoVE T1)': (26.4, 44.0, 27.8, 29.3, 46.9, 30.8),
    'ReSim 200e (CLoVE T1)': (39.7, 59.0, 43.0, 34.6, 55.9, 37.1),
    'InsCon 200e (CLoVE T1)': (40.3, 60.0, 43.5, 35.1, 56.7, 37.6),
    'PixPro 400e (CLoVE T1)': (40.5, 59.8, 44.0, 35.4, 56.9, 37.7),
    'DetCo 200e (CLoVE T1)': (39.8, 59.7, 43.0, 34.7, 56.3, 36.7),
    'SlotCon 200e (CLoVE T1)': (39.9, 59.8, 43.0, 34.9, 56.5, 37.3),
    'CLoVE 200e (CLoVE T1)': (40.6, 60.0, 44.1, 35.4, 56.8, 37.8),
    'CLoVE 400e (CLoVE T1)': (41.0, 60.3, 44.2, 35.5, 57.2, 38.1),
})
# CLoVE Table 2: COCO Mask R-CNN R50-FPN 1x.
_add_table('coco_det_fpn_1x', _BOX_MASK, {
    'Supervised 100e (CLoVE T2)': (38.9, 59.6, 42.7, 35.4, 56.5, 38.1),
    'Rand init (CLoVE T2)': (32.8, 51.0, 35.3, 28.5, 46.8, 30.4),
    'DenseCL 200e (CLoVE T2)': (39.4, 59.9, 42.7, 35.6, 56.7, 38.2),
    'ReSim 200e (CLoVE T2)': (39.3, 59.7, 43.1, 35.7, 56.7, 38.1),
    'PixPro 400e (CLoVE T2)': (39.8, 59.5, 43.7, 36.1, 56.5, 38.9),
    'SetSim 200e (CLoVE T2)': (40.2, 60.7, 43.9, 36.4, 57.7, 39.0),
    'VICRegL 300e (CLoVE T2)': (37.3, 57.6, 40.7, 34.1, 54.7, 36.5),
    'CLoVE 200e (CLoVE T2)': (40.8, 60.5, 45.0, 36.8, 57.6, 39.8),
    'CLoVE 400e (CLoVE T2)': (41.2, 61.1, 45.0, 37.1, 58.1, 40.1),
})
for _b in ('coco_det_c4_1x', 'coco_det_fpn_1x'):  # column order of the papers' tables
    PAPER[_b] = {m: PAPER[_b][m] for m in _BOX_MASK}
# CLoVE Table 3: Cityscapes instance segmentation, Mask R-CNN R50-FPN (AP, AP50; `cityscapes/*`).
_add_table('cityscapes_det', ('AP', 'AP50'), {
    'Supervised 100e (CLoVE T3)': (26.5, 52.9),
    'Rand init (CLoVE T3)': (19.9, 40.7),
    'DenseCL 200e (CLoVE T3)': (33.1, 61.7),
    'PixPro 400e (CLoVE T3)': (35.8, 63.7),
    'VICRegL 300e (CLoVE T3)': (29.8, 58.5),
    'SlotCon 200e (CLoVE T3)': (35.2, 63.8),
    'CLoVE 200e (CLoVE T3)': (35.7, 64.1),
    'CLoVE 400e (CLoVE T3)': (37.2, 65.3),
})
# CLoVE Table 4: LVIS v1 Mask R-CNN R50-FPN (`lvis/bbox_*`, `lvis/segm_*`).
_add_table('lvis_det', _BOX_MASK, {
    'Supervised 100e (CLoVE T4)': (20.2, 33.4, 21.4, 19.6, 31.2, 20.8),
    'Rand init (CLoVE T4)': (12.4, 21.8, 12.5, 12.1, 20.2, 12.5),
    'DenseCL 200e (CLoVE T4)': (20.4, 33.5, 21.4, 19.9, 31.5, 20.9),
    'PixPro 400e (CLoVE T4)': (23.8, 38.2, 25.2, 23.3, 36.1, 24.7),
    'SlotCon 200e (CLoVE T4)': (23.2, 37.6, 24.3, 22.9, 35.6, 24.3),
    'VICRegL 200e (CLoVE T4)': (7.0, 13.4, 6.4, 7.4, 12.7, 7.3),
    'CLoVE 200e (CLoVE T4)': (23.6, 37.7, 25.2, 23.3, 35.9, 24.8),
    'CLoVE 400e (CLoVE T4)': (24.3, 38.8, 25.8, 23.9, 36.7, 25.3),
})
# CLoVE Table 6: VOC07+12 Faster R-CNN R50-C4 (AP, AP50, AP75).
_add_table('voc_det', ('AP', 'AP50', 'AP75'), {
    'Supervised 100e (CLoVE T6)': (53.5, 81.3, 58.8),
    'Rand init (CLoVE T6)': (33.8, 60.2, 33.1),
    'DenseCL 200e (CLoVE T6)': (58.7, 82.8, 65.2),
    'ReSim 200e (CLoVE T6)': (58.7, 83.1, 66.3),
    'InsCon 200e (CLoVE T6)': (59.1, 83.6, 66.6),
    'PixPro 400e (CLoVE T6)': (60.0, 83.8, 67.7),
    'cp2 600e (CLoVE T6)': (56.9, 82.3, 63.6),
    'SlotCon 200e (CLoVE T6)': (57.3, 82.9, 64.3),
    'SetSim 200e (CLoVE T6)': (59.1, 83.2, 66.1),
    'CLoVE 200e (CLoVE T6)': (60.1, 83.7, 67.7),
    'CLoVE 400e (CLoVE T6)': (59.9, 83.8, 67.8),
})

# Revisiting Tables 4 and 9 (COCO pretraining, 200 / 800 epochs): VOC FCN mIoU (CONFIG=the
# Revisiting FCN, voc_seg.sh --benchmark voc_seg_revisiting), Cityscapes FCN mIoU, VOC07 linear
# classification mAP (feature_probe.py --data voc07), IN-1K linear top-1 (MoCo protocol), DAVIS-2017
# J&F (davis_propagation.py). NYUD, Places and depth have no densepre benchmark.
_REVISITING = ('voc_seg_revisiting', 'cityscapes_seg', 'feature_probe_voc07', 'linear_cls_moco',
               'davis2017_propagation')
_REVISITING_METRICS = ('mIoU', 'mIoU', 'mAP', 'top-1', 'J&F-Mean')


def _add_revisiting(rows):
    for label, values in rows.items():
        for benchmark, metric, value in zip(_REVISITING, _REVISITING_METRICS, values):
            _add_table(benchmark, (metric,), {label: (value,)})


# Table 4 (VOC, Cityscapes, VOC cls, ImageNet; no DAVIS column). Its Rand. init. row equals Table
# 9's. The text extraction of Table 4 lost one of the two rows MC / MC+CC; the 69.9 row is read as
# MC alone (configs/revisiting/README.md).
_add_revisiting({
    'MoCo 200e (Revisiting T4)': (66.2, 70.3, 76.1, 49.3, None),
    'MoCo+MC 200e (Revisiting T4)': (69.9, 70.9, 81.3, 53.4, None),
    'MoCo+MC+CC+m0.995 200e (Revisiting T4)': (70.9, 71.3, 82.8, 54.8, None),
    'MoCo+MC+CC+m0.995+A+ 200e (Revisiting T4)': (71.4, 72.0, 83.7, 55.5, None),
    'MoCo+MC+CC+m0.995+A+ +kNN 200e (Revisiting T4)': (71.9, 72.2, 85.1, 55.9, None),
})
# Table 9 (MoCo and DenseCL 800 epochs on COCO; VirTex on COCO captions).
_add_revisiting({
    'Rand. init. (Revisiting T9)': (39.2, 65.0, None, None, 40.8),
    'DenseCL 800e (Revisiting T9)': (73.2, 73.5, 83.5, 49.9, 61.8),
    'VirTex (Revisiting T9)': (72.7, 72.5, 87.4, 53.8, 61.3),
    'MoCo 800e (Revisiting T9)': (71.1, 71.3, 81.0, 49.8, 63.3),
    'MoCo+CC 800e (Revisiting T9)': (72.2, 71.6, 84.0, 54.6, 65.5),
    'MoCo+CC+A+ 800e (Revisiting T9)': (72.7, 71.8, 85.0, 56.0, 65.7),
    'MoCo+CC+A+ +kNN 800e (Revisiting T9)': (73.5, 72.3, 85.9, 56.1, 66.2),
})
# Table 5: DAVIS-2017 val, frozen features, label propagation (J-Mean, F-Mean; no J&F given). MoCo
# and MoCo+MC are the Section 4 models (200 epochs on COCO, appendix A.1); the others are external.
_add_table('davis2017_propagation', ('J-Mean', 'F-Mean'), {
    'DenseCL, COCO (Revisiting T5)': (60.6, 63.9),
    'MAST, YT-VOS (Revisiting T5)': (63.3, 67.6),
    'STC, Kinetics (Revisiting T5)': (64.8, 70.2),
    'MoCo 200e (Revisiting T5)': (61.6, 66.6),
    'MoCo+MC 200e (Revisiting T5)': (64.3, 69.4),
})
PAPER['davis2017_propagation'] = {m: PAPER['davis2017_propagation'][m]
                                  for m in ('J-Mean', 'F-Mean', 'J&F-Mean')}
# Table 6: VOC semantic segment retrieval, 21-class mIoU (segment_retrieval.py). The 7-class column
# (SegSort 10.2, SSL HG 24.6 have only that one) uses a class subset the paper does not define.
_add_table('voc12_segment_retrieval', ('mIoU',), {
    'DenseCL, COCO (Revisiting T6)': (35.1,),
    'MoCo 200e (Revisiting T6)': (28.1,),
    'MoCo+MC 200e (Revisiting T6)': (35.1,),
})
