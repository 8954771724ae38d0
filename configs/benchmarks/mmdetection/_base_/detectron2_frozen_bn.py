# detectron2's default R50-FPN backbone, as its LVIS / Cityscapes Mask R-CNN configs use it
# unchanged (CLoVE appendix: "with no BN" / "without changes"): FrozenBN (BN statistics and
# affine parameters fixed at the pretrained values; mmdet: BN with requires_grad=False,
# norm_eval=True). The FPN and the heads have no normalisation layers and the box head is 2 fc
# (mmdet's Mask R-CNN FPN base already is: FPN norm_cfg=None, Shared2FCBBoxHead, FCNMaskHead
# without norm).
# Kept from the MoCo protocol because the checkpoints require it: a torchvision-style (`pytorch`,
# stride in the 3x3 conv) ResNet and RGB ImageNet mean/std (detectron2's defaults, caffe style and
# BGR mean with std 1, belong to its MSRA caffe weights).
d2_frozen_bn = dict(type='BN', requires_grad=False)
d2_data_preprocessor = dict(
    mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], bgr_to_rgb=True)
d2_resnet50 = dict(
    type='ResNet',
    depth=50,
    frozen_stages=1,  # detectron2 BACKBONE.FREEZE_AT=2: stem and res2 not trained
    norm_cfg=d2_frozen_bn,
    norm_eval=True,
    style='pytorch',
    init_cfg=None)
