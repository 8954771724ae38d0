# Cityscapes instance segmentation transfer (CLoVE Table 3): Mask R-CNN, ResNet-50-FPN,
# detectron2's Cityscapes/mask_rcnn_R_50_FPN.yaml "without changes" (CLoVE appendix), mmdet.
#   train gtFine train (2975 images), test gtFine val (500 images); 8 classes
#   24k iterations, batch 32 (CLoVE: 8 per GPU -> 4 GPUs x 8), SGD lr 0.01, 1000-iter linear
#   warm-up, lr x0.1 at 18k, multi-scale training (shorter side 800..1024 step 32, max 2048), test
#   at 1024 x 2048.
#   metrics: the official Cityscapes instance AP / AP50 (`cityscapes/mAP`, `cityscapes/AP@50`;
#   needs `pip install cityscapesscripts`, checked by tools/benchmarks/cityscapes_det.sh before
#   anything runs) and COCO-style bbox / segm AP (`coco/*`).
# The yaml's model: no norm in the FPN and the heads, 2-fc box head (mmdet's FPN base as is).
# Backbone norm: the yaml's FrozenBN (BN statistics and affine fixed at the checkpoint's values;
# "without changes" adds no SyncBN). Frozen stages: CLoVE writes that it "fine-tuned all layers",
# so every stage is trained (`frozen_stages=-1`); the yaml's FREEZE_AT=2 is
# `--cfg-options model.backbone.frozen_stages=1`. mmdet's Cityscapes config starts from a
# COCO-trained detector (`load_from`); that is removed here.
# Data: mmdet's layout, data/cityscapes/{leftImg8bit,gtFine,annotations/instancesonly_filtered_
# gtFine_{train,val}.json} (tools/dataset_converters/cityscapes.py of mmdet writes the json).
_base_ = [
    'mmdet::cityscapes/mask-rcnn_r50_fpn_1x_cityscapes.py', '../_base_/detectron2_frozen_bn.py'
]
default_scope = 'mmdet'
load_from = None

model = dict(
    data_preprocessor=_base_.d2_data_preprocessor,
    backbone=dict(_base_.d2_resnet50, frozen_stages=-1),
    roi_head=dict(
        bbox_head=dict(
            num_classes=8,
            # detectron2's default box loss (smooth L1 with beta 0 = L1), as mmdet's FPN base
            loss_bbox=dict(_delete_=True, type='L1Loss', loss_weight=1.0)),
        mask_head=dict(num_classes=8)))

data_root = 'data/cityscapes/'
backend_args = None
train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(
        type='RandomChoiceResize',
        scales=[(2048, 800), (2048, 832), (2048, 864), (2048, 896), (2048, 928), (2048, 960),
                (2048, 992), (2048, 1024)],
        keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
train_dataloader = dict(
    batch_size=8,
    num_workers=4,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        _delete_=True,
        type='CityscapesDataset',
        data_root=data_root,
        ann_file='annotations/instancesonly_filtered_gtFine_train.json',
        data_prefix=dict(img='leftImg8bit/train/'),
        filter_cfg=dict(filter_empty_gt=True, min_size=32),
        pipeline=train_pipeline,
        backend_args=backend_args))
val_evaluator = [
    dict(
        type='CocoMetric',
        ann_file=data_root + 'annotations/instancesonly_filtered_gtFine_val.json',
        metric=['bbox', 'segm'],
        backend_args=backend_args),
    # outfile_prefix=None: the per-image prediction files go to a temporary directory
    dict(
        type='CityScapesMetric',
        outfile_prefix=None,
        seg_prefix=data_root + 'gtFine/val',
        backend_args=backend_args),
]
test_evaluator = val_evaluator

max_iter = 24000
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=max_iter, val_interval=8000)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=1000),
    dict(type='MultiStepLR', begin=0, end=max_iter, by_epoch=False, milestones=[18000],
         gamma=0.1),
]
optim_wrapper = dict(
    type='OptimWrapper', optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=0.0001))
default_hooks = dict(checkpoint=dict(by_epoch=False, interval=8000, max_keep_ckpts=2))
log_processor = dict(by_epoch=False)
# the paper's batch: 32 = 4 GPUs x 8 (fewer GPUs: gradient accumulation, see finetune.py)
auto_scale_lr = dict(enable=True, base_batch_size=32)
pretrained_parts = [dict(module='backbone', prefix='backbone.')]
