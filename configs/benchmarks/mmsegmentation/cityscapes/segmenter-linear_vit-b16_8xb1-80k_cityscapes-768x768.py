# LOCA (Caron et al.) Table 1 / Table 8 "Citys.": Cityscapes (19 classes, 2,975 train / 500 val),
# ViT-B/16 + Segmenter linear decoder, 80k iterations at batch 8 (8 GPUs x 1; appendix A.3:
# "215 epochs with minibatch size of 8"), 768x768 crops, poly lr, weight decay 0.01,
# sliding-window 768x768 inference (stride 512) on the full 2048x1024 images.
# lr: LOCA sweeps {8e-5, 1e-4, 3e-4, 8e-4} (`ade20k_linear.sh --dataset cityscapes --lr X`);
# default 8e-4 with Segmenter's SGD; AdamW: the `_adamw` config (see the _base_ segmenter).
_base_ = [
    '../_base_/segmenter-linear_vit-b16_mmpretrain.py',
    'mmseg::_base_/datasets/cityscapes_768x768.py',
    'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_80k.py',
]
default_scope = 'mmseg'
crop_size = (768, 768)
model = dict(
    data_preprocessor=dict(size=crop_size),
    decode_head=dict(num_classes=19),
    test_cfg=dict(mode='slide', crop_size=crop_size, stride=(512, 512)))
train_dataloader = dict(batch_size=1)
optim_wrapper = dict(
    _delete_=True, type='OptimWrapper', optimizer=_base_.segmenter_sgd, clip_grad=None)
param_scheduler = [
    dict(type='PolyLR', power=0.9, eta_min=_base_.segmenter_poly_eta_min, begin=0,
         end=80000, by_epoch=False)
]
# the paper's batch: 8 = 8 GPUs x 1 (fewer GPUs: gradient accumulation, see finetune.py)
auto_scale_lr = dict(enable=True, base_batch_size=8)
