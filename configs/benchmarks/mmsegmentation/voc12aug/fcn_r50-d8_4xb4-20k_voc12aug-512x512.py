# VOC12aug semantic segmentation transfer (LEWEL Tables 3-7): dilated FCN, ResNet-50 with output
# stride 8, 20k iterations, batch 16 (4 GPUs x 4), SGD lr 0.01 poly, 512x512 crops, mmseg.
# The backbone is mmseg's `ResNet` (torchvision stem), NOT the base config's `ResNetV1c`, whose
# deep stem would stay random with an SSL checkpoint. tools/benchmarks/voc_seg.sh fills
# `model.backbone.init_cfg` with the pretraining checkpoint and verifies complete loading.
_base_ = [
    'mmseg::_base_/models/fcn_r50-d8.py',
    'mmseg::_base_/datasets/pascal_voc12_aug.py',
    'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_20k.py',
]
default_scope = 'mmseg'
crop_size = (512, 512)
data_preprocessor = dict(size=crop_size)
model = dict(
    data_preprocessor=data_preprocessor,
    pretrained=None,
    backbone=dict(type='ResNet', depth=50, init_cfg=None),
    decode_head=dict(num_classes=21),
    auxiliary_head=dict(num_classes=21))
# the paper's batch: 16 = 4 GPUs x 4 (fewer GPUs: gradient accumulation keeps
# it, see densepre/transfer/effective_batch.py; --scale-lr: lr scaled linearly instead)
auto_scale_lr = dict(enable=True, base_batch_size=16)
pretrained_parts = [dict(module='backbone', prefix='backbone.')]
