# Pascal VOC07+12 object detection transfer (LEWEL Table 3, CLoVE Table 6): Faster R-CNN,
# ResNet-50-C4, MoCo detection protocol, mmdet.
#   train VOC2007 trainval + VOC2012 trainval (~16.5k images), test VOC2007 test (4952 images)
#   24k iterations, batch 16 (8 GPUs x 2), SGD lr 0.02, 100-iter linear warm-up, lr x0.1 at 18k and
#   22k (3/4 and 11/12 of the schedule), multi-scale training (shorter side 480..800 step 32, max
#   1333), test at shorter side 800.
#   metric: VOC07 11-point AP at IoU 0.50:0.05:0.95; `pascal_voc/mAP` is their mean (the AP of the
#   papers, as detectron2 reports it for VOC), `pascal_voc/AP50` / `pascal_voc/AP75` the others.
# MoCo protocol (vs mmdet's caffe C4 base): torchvision-style (`pytorch`) ResNet, SyncBN in the
# backbone and the res5 head (reverted to BN with a warning on one process), all stages trained
# (`frozen_stages=-1`), BN statistics updated (`norm_eval=False`), RGB ImageNet mean/std, an extra
# norm after res5 (mmpretrain's `ResLayerExtraNorm`, registered in mmdet's registry).
# res5 lives in `roi_head.shared_head`; tools/benchmarks/voc_det.sh loads it from the same
# `backbone.` prefix (backbone.layer4.*) and verifies that every tensor of both parts came from the
# checkpoint, except the extra norm (random by design).
_base_ = [
    'mmdet::pascal_voc/faster-rcnn_r50-caffe-c4_ms-18k_voc0712.py', '../_base_/moco_protocol.py'
]
default_scope = 'mmdet'
# ResLayerExtraNorm is defined in mmpretrain but registered into mmdet's MODELS; the cross-scope
# name 'mmpretrain.ResLayerExtraNorm' does NOT resolve (mmpretrain's own registry lacks it).
custom_imports = dict(
    imports=['mmpretrain.models.utils.res_layer_extra_norm'], allow_failed_imports=False)
custom_hooks = [_base_.moco_precise_bn]

model = dict(
    data_preprocessor=_base_.moco_data_preprocessor,
    backbone=_base_.moco_resnet50_c4,
    roi_head=dict(shared_head=_base_.moco_res5_head, bbox_head=dict(num_classes=20)))

# 11-point VOC07 AP at IoU 0.5, 0.55, ..., 0.95 (written as decimals: the metric names its keys
# AP{int(100 * iou)}, so linspace's 0.6499... would become AP64).
iou_thrs = [0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95]
val_evaluator = dict(type='VOCMetric', metric='mAP', eval_mode='11points', iou_thrs=iou_thrs)
test_evaluator = val_evaluator

max_iter = 24000
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iter, val_interval=4000)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=100),
    dict(type='MultiStepLR', begin=0, end=max_iter, by_epoch=False, milestones=[18000, 22000],
         gamma=0.1),
]
optim_wrapper = dict(
    type='OptimWrapper', optimizer=dict(type='SGD', lr=0.02, momentum=0.9, weight_decay=0.0001),
    paramwise_cfg=_base_.moco_paramwise_cfg)  # norm parameters not decayed (detectron2)
default_hooks = dict(checkpoint=dict(by_epoch=False, interval=4000, max_keep_ckpts=2))
log_processor = dict(by_epoch=False)
# the paper's batch: 16 = 8 GPUs x 2 (fewer GPUs: gradient accumulation keeps
# it, see densepre/transfer/effective_batch.py; --scale-lr: lr scaled linearly instead)
auto_scale_lr = dict(enable=True, base_batch_size=16)
pretrained_parts = _base_.moco_c4_pretrained_parts
