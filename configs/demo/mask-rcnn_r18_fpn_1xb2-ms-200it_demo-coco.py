# CPU demo of the COCO Mask R-CNN FPN benchmark (tools/benchmarks/coco_det.sh): the same config
# (MoCo protocol: SyncBN -> BN on one process, 4conv1fc box head, multi-scale training) shrunk to
# ResNet-18, 64-channel FPN / heads, ~128-px images, few proposals / RoI samples and 200 iterations
# on the synthetic demo COCO set (data/demo, 4 classes: tools/make_demo_data.py).
#   CONFIG=configs/demo/mask-rcnn_r18_fpn_1xb2-ms-200it_demo-coco.py \
#     tools/benchmarks/coco_det.sh CKPT [--cfg-options train_cfg.max_iters=...]
_base_ = '../benchmarks/mmdetection/coco/mask-rcnn_r50_fpn_ms-1x_coco.py'

data_root = 'data/demo/coco/'
# densepre.demo.imagenet_voc_coco.COCO_CLASSES (COCO names, labels 0..3)
classes = ('airplane', 'bicycle', 'bird', 'boat')
metainfo = dict(classes=classes)
ch = 64

model = dict(
    backbone=dict(depth=18),
    neck=dict(in_channels=[64, 128, 256, 512], out_channels=ch),
    rpn_head=dict(in_channels=ch, feat_channels=ch),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=ch),
        bbox_head=dict(in_channels=ch, conv_out_channels=ch, fc_out_channels=256,
                       num_classes=len(classes)),
        mask_roi_extractor=dict(out_channels=ch),
        mask_head=dict(in_channels=ch, conv_out_channels=ch, num_classes=len(classes))),
    train_cfg=dict(
        rpn_proposal=dict(nms_pre=300, max_per_img=64),
        rcnn=dict(sampler=dict(num=32))),
    test_cfg=dict(
        rpn=dict(nms_pre=300, max_per_img=32),
        rcnn=dict(max_per_img=20)))

backend_args = None
train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='RandomChoiceResize', scales=[(213, 96), (213, 112), (213, 128)], keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='Resize', scale=(213, 128), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
train_dataloader = dict(
    batch_size=2,
    num_workers=2,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(data_root=data_root, metainfo=metainfo, pipeline=train_pipeline))
val_dataloader = dict(
    num_workers=2,
    dataset=dict(data_root=data_root, metainfo=metainfo, pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val2017.json')
test_evaluator = val_evaluator

max_iter = 200
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=max_iter,
                 val_interval=max_iter)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=20),
    dict(type='MultiStepLR', begin=0, end=max_iter, by_epoch=False, milestones=[150, 183],
         gamma=0.1),
]
optim_wrapper = dict(optimizer=dict(lr=0.01))
default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(by_epoch=False, interval=max_iter, max_keep_ckpts=1))
log_processor = dict(by_epoch=False)
auto_scale_lr = dict(enable=False, base_batch_size=2)
randomness = dict(seed=0)
# PreciseBN as the benchmark, over 10 batches instead of 200 (CPU demo)
custom_hooks = [dict(type='PreciseBNHook', _scope_='densepre', num_iters=10)]
