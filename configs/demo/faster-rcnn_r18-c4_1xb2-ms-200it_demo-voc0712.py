# CPU demo of the VOC07+12 detection benchmark (tools/benchmarks/voc_det.sh): the same Faster R-CNN
# C4 config (MoCo protocol: SyncBN -> BN on one process, extra norm after res5, res5 loaded into
# the shared head and verified), shrunk to ResNet-18, ~128-px images, few proposals / RoI samples
# and 200 iterations on the synthetic demo VOC devkit (data/demo, 4 classes;
# tools/make_demo_data.py).
#   CONFIG=configs/demo/faster-rcnn_r18-c4_1xb2-ms-200it_demo-voc0712.py \
#     tools/benchmarks/voc_det.sh CKPT [--cfg-options train_cfg.max_iters=...]
_base_ = '../benchmarks/mmdetection/voc0712/faster-rcnn_r50-c4_ms-24k_voc0712.py'

data_root = 'data/demo/VOCdevkit/'
# densepre.demo.imagenet_voc_coco.CLASSES (VOC names, labels 0..3)
classes = ('aeroplane', 'bicycle', 'bird', 'boat')
metainfo = dict(classes=classes)

model = dict(
    backbone=dict(depth=18),
    rpn_head=dict(in_channels=256, feat_channels=256),
    roi_head=dict(
        shared_head=dict(depth=18),  # res5 of ResNet-18: 256 -> 512 channels
        bbox_roi_extractor=dict(out_channels=256),
        bbox_head=dict(in_channels=512, num_classes=len(classes))),
    train_cfg=dict(
        rpn_proposal=dict(nms_pre=300, max_per_img=64),
        rcnn=dict(sampler=dict(num=32))),
    test_cfg=dict(
        rpn=dict(nms_pre=300, max_per_img=32),
        rcnn=dict(max_per_img=20)))

backend_args = None
train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='RandomChoiceResize', scales=[(213, 96), (213, 112), (213, 128)], keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='Resize', scale=(213, 128), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
voc_train = dict(
    type='VOCDataset',
    data_root=data_root,
    metainfo=metainfo,
    filter_cfg=dict(filter_empty_gt=True, min_size=32),
    pipeline=train_pipeline,
    backend_args=backend_args)
train_dataloader = dict(
    batch_size=2,
    num_workers=2,
    dataset=dict(
        _delete_=True,
        type='ConcatDataset',
        datasets=[
            dict(voc_train, ann_file='VOC2007/ImageSets/Main/trainval.txt',
                 data_prefix=dict(sub_data_root='VOC2007/')),
            dict(voc_train, ann_file='VOC2012/ImageSets/Main/trainval.txt',
                 data_prefix=dict(sub_data_root='VOC2012/')),
        ]))
val_dataloader = dict(
    num_workers=2,
    dataset=dict(data_root=data_root, metainfo=metainfo, pipeline=test_pipeline))
test_dataloader = val_dataloader

max_iter = 200
train_cfg = dict(max_iters=max_iter, val_interval=max_iter)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=20),
    dict(type='MultiStepLR', begin=0, end=max_iter, by_epoch=False, milestones=[150, 183],
         gamma=0.1),
]
optim_wrapper = dict(optimizer=dict(lr=0.01))
default_hooks = dict(
    logger=dict(interval=10), checkpoint=dict(interval=max_iter, max_keep_ckpts=1))
auto_scale_lr = dict(enable=False, base_batch_size=2)
randomness = dict(seed=0)
# PreciseBN as the benchmark, over 10 batches instead of 200 (CPU demo)
custom_hooks = [dict(type='PreciseBNHook', _scope_='densepre', num_iters=10)]
