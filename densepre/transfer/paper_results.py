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
}

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
}
