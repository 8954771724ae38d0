# LOCA (Caron et al.) Table 1 / Table 8 "ADE20k": end-to-end fine-tuning of a ViT-B/16 with
# Segmenter's linear decoder, 160k iterations at batch 16 (8 GPUs x 2), 512x512 crops, poly lr,
# weight decay 0.01, sliding-window (512x512) single-scale inference; mIoU on val (2,000 images).
# Augmentation (appendix A.3): random resize ratio 0.5-2.0, photometric jitter, flip, random crop
# with padding -- mmseg's ADE20k pipeline.
# Optimiser: Segmenter's SGD (momentum 0.9, poly to 1e-5) with LOCA's wd 0.01, lr 8e-4 (the sweep
# {8e-5, 1e-4, 3e-4, 8e-4}: lr_sweep/ or `ade20k_linear.sh --lr`); AdamW: the `_adamw` config
# (see ../_base_/segmenter-linear_vit-b16_mmpretrain.py).
_base_ = [
    '../_base_/segmenter-linear_vit-b16_mmpretrain.py',
    'mmseg::_base_/datasets/ade20k.py',
    'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_160k.py',
]
default_scope = 'mmseg'
crop_size = (512, 512)
model = dict(
    data_preprocessor=dict(size=crop_size),
    decode_head=dict(num_classes=150),
    test_cfg=dict(mode='slide', crop_size=crop_size, stride=(480, 480)))
train_dataloader = dict(batch_size=2)
optim_wrapper = dict(
    _delete_=True, type='OptimWrapper', optimizer=_base_.segmenter_sgd, clip_grad=None)
param_scheduler = [
    dict(type='PolyLR', power=0.9, eta_min=_base_.segmenter_poly_eta_min, begin=0,
         end=160000, by_epoch=False)
]
# the paper's batch: 16 = 8 GPUs x 2 (fewer GPUs: gradient accumulation, see finetune.py)
auto_scale_lr = dict(enable=True, base_batch_size=16)
