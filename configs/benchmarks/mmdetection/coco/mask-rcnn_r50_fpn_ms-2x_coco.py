# COCO Mask R-CNN R50-FPN, 2x schedule (LEWEL Table 8 "MS-COCO (2x Schedule)"): the 1x benchmark
# (MoCo protocol, multi-scale training) for 24 epochs (~ detectron2's 180k iterations at batch
# 16), lr x0.1 after epochs 16 and 22, as mmdet's schedule_2x; detectron2's 1000 warm-up iterations.
_base_ = './mask-rcnn_r50_fpn_ms-1x_coco.py'

train_cfg = dict(max_epochs=24)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=1000),
    dict(type='MultiStepLR', begin=0, end=24, by_epoch=True, milestones=[16, 22], gamma=0.1),
]
