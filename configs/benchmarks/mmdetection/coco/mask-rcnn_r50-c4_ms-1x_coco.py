# COCO object detection + instance segmentation transfer (LEWEL Table 4 "ResNet50-C4", CLoVE
# Table 1): Mask R-CNN, ResNet-50-C4, 1x schedule, MoCo detection protocol, mmdet.
#   train COCO train2017, test val2017 (COCO bbox / segm AP, AP50, AP75)
#   12 epochs (mmdet's 1x ~ detectron2's 90k iterations at batch 16), batch 16 (8 GPUs x 2),
#   SGD lr 0.02, lr x0.1 after epochs 8 and 11, multi-scale training (shorter side 640..800 step 32,
#   max 1333), test at shorter side 800.
# MoCo protocol (vs mmdet's caffe C4 base): `pytorch`-style ResNet, SyncBN in the backbone and the
# res5 head (BN with a warning on one process), `frozen_stages=-1`, `norm_eval=False`, RGB ImageNet
# mean/std, extra norm after res5 (`ResLayerExtraNorm`). The C4 mask head (`FCNMaskHead`, no
# convs) reuses the res5 shared head, as in detectron2's Res5ROIHeads.
# res5 (`roi_head.shared_head`) is loaded from the checkpoint's `backbone.layer4.*`; both parts are
# verified to load completely (the extra norm is random by design).
_base_ = ['mmdet::mask_rcnn/mask-rcnn_r50-caffe-c4_1x_coco.py', '../_base_/moco_protocol.py']
default_scope = 'mmdet'
custom_imports = dict(
    imports=['mmpretrain.models.utils.res_layer_extra_norm'], allow_failed_imports=False)
custom_hooks = [_base_.moco_precise_bn]

model = dict(
    data_preprocessor=_base_.moco_data_preprocessor,
    backbone=_base_.moco_resnet50_c4,
    roi_head=dict(shared_head=_base_.moco_res5_head))

train_pipeline = [
    dict(type='LoadImageFromFile', backend_args={{_base_.backend_args}}),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(
        type='RandomChoiceResize',
        scales=[(1333, 640), (1333, 672), (1333, 704), (1333, 736), (1333, 768), (1333, 800)],
        keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))

# the paper's batch: 16 = 8 GPUs x 2 (fewer GPUs: gradient accumulation keeps
# it, see densepre/transfer/effective_batch.py; --scale-lr: lr scaled linearly instead)
auto_scale_lr = dict(enable=True, base_batch_size=16)
# detectron2 (MoCo / CLoVE yamls): norm parameters not decayed, 1000 warm-up iterations
optim_wrapper = dict(paramwise_cfg=_base_.moco_paramwise_cfg)
param_scheduler = [
    _base_.moco_coco_warmup,
    dict(type='MultiStepLR', begin=0, end=12, by_epoch=True, milestones=[8, 11], gamma=0.1),
]
pretrained_parts = _base_.moco_c4_pretrained_parts
