# Tables 2-3 (dataset bias): MoCo v2 for 400 epochs (batch 256, lr 0.3, cosine, tau 0.2,
# m 0.999, two 224-px crops) on COCO train2017. The other datasets inherit from this file.
_base_ = '../mocov2_r50_8xb32-coco_200e.py'

param_scheduler = [dict(type='CosineAnnealingLR', T_max=400, by_epoch=True, begin=0, end=400)]
train_cfg = dict(max_epochs=400)
