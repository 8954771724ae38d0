"""Reference numbers from the papers, for tools/benchmarks/summarize.py.

Keyed by benchmark name (the ``--benchmark`` name the tools/benchmarks/*.sh scripts use) and by
canonical metric name (see ``METRIC_NAMES``). Each entry: {method label: value}. Rows marked
``*`` are the papers' own reproductions of the baselines.
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
    # Revisiting Table 9 (COCO pretraining, 800 epochs): IN-1K linear, MoCo protocol.
    'linear_cls_moco': {
        'top-1': {'MoCo (Revisiting T9)': 49.8, 'MoCo+CC+A+ +kNN (Revisiting T9)': 56.1,
                  'DenseCL (Revisiting T9)': 49.9},
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
    # Revisiting Table 9: Revisiting FCN on Cityscapes / VOC, VOC07 logistic-regression mAP.
    'cityscapes_seg': {
        'mIoU': {'Rand. init. (Revisiting T9)': 65.0, 'MoCo (Revisiting T9)': 71.3,
                 'MoCo+CC+A+ +kNN (Revisiting T9)': 72.3, 'DenseCL (Revisiting T9)': 73.5},
    },
    'voc_seg_revisiting': {
        'mIoU': {'Rand. init. (Revisiting T9)': 39.2, 'MoCo (Revisiting T9)': 71.1,
                 'MoCo+CC+A+ +kNN (Revisiting T9)': 73.5, 'DenseCL (Revisiting T9)': 73.2},
    },
    'feature_probe_voc07': {
        'mAP': {'MoCo (Revisiting T9)': 81.0, 'MoCo+CC+A+ +kNN (Revisiting T9)': 85.9,
                'DenseCL (Revisiting T9)': 83.5},
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
