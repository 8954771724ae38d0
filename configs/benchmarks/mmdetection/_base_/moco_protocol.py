# The MoCo detection protocol (He et al., CVPR 2020, appendix A; detectron2 configs released with
# MoCo and reused by DenseCL / PixPro / LEWEL / CLoVE for VOC and COCO): a torchvision-style
# (`pytorch`) ResNet with every stage trained (`frozen_stages=-1`), SyncBN everywhere with BN
# statistics updated (`norm_eval=False`; reverted to BN with a warning on one process), RGB ImageNet
# mean/std. Only named parts, no `model`: each benchmark config references what it needs, e.g.
#   model = dict(backbone=_base_.moco_resnet50, neck=dict(norm_cfg=_base_.moco_norm_cfg))
moco_norm_cfg = dict(type='SyncBN', requires_grad=True)
moco_data_preprocessor = dict(
    mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], bgr_to_rgb=True)
moco_resnet50 = dict(
    type='ResNet',
    depth=50,
    frozen_stages=-1,
    norm_cfg=moco_norm_cfg,
    norm_eval=False,
    style='pytorch',
    init_cfg=None)
# C4: res2-4 in the backbone, res5 (+ an extra norm after it, detectron2's Res5ROIHeads with the
# MoCo "res5 BN" setting) in the RoI head. mmpretrain's `ResLayerExtraNorm` registers itself into
# mmdet's MODELS (configs using it need mmpretrain.models.utils.res_layer_extra_norm imported).
moco_resnet50_c4 = dict(
    moco_resnet50, num_stages=3, strides=(1, 2, 2), dilations=(1, 1, 1), out_indices=(2, ))
moco_res5_head = dict(
    type='ResLayerExtraNorm',
    depth=50,
    stage=3,
    stride=2,
    dilation=1,
    style='pytorch',
    norm_cfg=moco_norm_cfg,
    norm_eval=False,
    init_cfg=None)
# res5 is loaded from the checkpoint's backbone.layer4.*; the extra norm is random by design.
moco_c4_pretrained_parts = [
    dict(module='backbone', prefix='backbone.'),
    dict(module='roi_head.shared_head', prefix='backbone.', random_by_design=['norm.']),
]
# FPN: SyncBN also in the FPN and the heads, box head 4 conv + 1 fc (detectron2's MoCo
# Mask R-CNN FPN configs: NORM SyncBN in FPN / ROI_BOX_HEAD (NUM_CONV 4, NUM_FC 1) / ROI_MASK_HEAD).
moco_fpn_neck = dict(norm_cfg=moco_norm_cfg)
moco_fpn_bbox_head = dict(type='Shared4Conv1FCBBoxHead', conv_out_channels=256,
                          norm_cfg=moco_norm_cfg)
moco_fpn_mask_head = dict(norm_cfg=moco_norm_cfg)
# detectron2's TEST.PRECISE_BN (ENABLED: True in the MoCo, LEWEL and CLoVE detection configs;
# NUM_ITER 200; run after the last iteration, before the final evaluation): BN statistics
# recomputed as plain averages over 200 training batches (densepre/transfer/precise_bn.py). Built
# from densepre's HOOKS registry through `_scope_` (a 'densepre.' type prefix does not resolve from
# mmdet's registry: densepre's registries are grandchildren of MMEngine's root).
moco_precise_bn = dict(type='PreciseBNHook', _scope_='densepre', num_iters=200)
# detectron2 does not decay norm parameters (SOLVER.WEIGHT_DECAY_NORM = 0.0 in its defaults, kept by
# the MoCo / LEWEL / CLoVE detection yamls); mmdet's default constructor decays them at 1e-4.
moco_paramwise_cfg = dict(norm_decay_mult=0.)
# detectron2's SOLVER.WARMUP_ITERS 1000 (WARMUP_FACTOR 1/1000, linear) of the MoCo / CLoVE COCO
# yamls (mmdet's 1x / 2x schedules warm up for 500); the VOC yaml sets 100.
moco_coco_warmup = dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=1000)
