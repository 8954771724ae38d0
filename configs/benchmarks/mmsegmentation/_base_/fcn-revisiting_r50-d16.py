# The FCN of Revisiting Contrastive Methods (Van Gansbeke et al., NeurIPS 2021, appendix A.3):
# ResNet-50 whose layer4 has stride 1 and dilation 2 (output stride 16; torchvision-style
# contract_dilation), then 2 x [3x3 conv 256, dilation 6, BN, ReLU] and a 1x1 classifier; no
# auxiliary head, no dropout. The backbone is mmseg's `ResNet` (torchvision stem), never
# `ResNetV1c`. Dataset configs set the head's dilation / classes and the crop size.
_base_ = 'mmseg::_base_/models/fcn_r50-d8.py'

norm_cfg = dict(type='SyncBN', requires_grad=True)
model = dict(
    pretrained=None,
    backbone=dict(
        type='ResNet',
        depth=50,
        strides=(1, 2, 2, 1),
        dilations=(1, 1, 1, 2),
        contract_dilation=True,
        norm_cfg=norm_cfg,
        init_cfg=None),
    decode_head=dict(
        in_channels=2048,
        in_index=3,
        channels=256,
        num_convs=2,
        kernel_size=3,
        dilation=6,
        concat_input=False,
        dropout_ratio=0.0,
        norm_cfg=norm_cfg,
        num_classes=21),
    auxiliary_head=None,
    test_cfg=dict(mode='whole'))
pretrained_parts = [dict(module='backbone', prefix='backbone.')]
