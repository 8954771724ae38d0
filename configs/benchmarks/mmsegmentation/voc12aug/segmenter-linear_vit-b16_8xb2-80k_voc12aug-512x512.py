# LOCA (Caron et al.) Table 1 / Table 8 "P.VOC": Pascal VOC 2012 with the 10,582-image aug train
# set (appendix A.2) and 21 classes, ViT-B/16 + Segmenter linear decoder, 80k iterations at batch
# 16 (8 GPUs x 2), 512x512 crops, poly lr, weight decay 0.01, sliding-window 512 inference; mIoU on
# val (1,449 images). mmseg's VOC12aug pipeline (resize 0.5-2.0, crop, flip, photometric).
# lr: LOCA sweeps {8e-5, 1e-4, 3e-4, 8e-4} (`ade20k_linear.sh --dataset voc --lr X`);
# default 8e-4 with Segmenter's SGD; AdamW: the `_adamw` config (see the _base_ segmenter).
_base_ = [
    '../_base_/segmenter-linear_vit-b16_mmpretrain.py',
    'mmseg::_base_/datasets/pascal_voc12_aug.py',
    'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_80k.py',
]
default_scope = 'mmseg'
crop_size = (512, 512)
model = dict(
    data_preprocessor=dict(size=crop_size),
    decode_head=dict(num_classes=21),
    test_cfg=dict(mode='slide', crop_size=crop_size, stride=(480, 480)))
train_dataloader = dict(batch_size=2)
optim_wrapper = dict(
    _delete_=True, type='OptimWrapper', optimizer=_base_.segmenter_sgd, clip_grad=None)
param_scheduler = [
    dict(type='PolyLR', power=0.9, eta_min=_base_.segmenter_poly_eta_min, begin=0,
         end=80000, by_epoch=False)
]
auto_scale_lr = dict(enable=True, base_batch_size=16)
