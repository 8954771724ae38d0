# LOCA (Caron et al.) Table 1 / Table 8 "ADE20k": end-to-end fine-tuning of a ViT-B/16 with
# Segmenter's linear decoder, 160k iterations at batch 16 (8 GPUs x 2), 512x512 crops, poly lr,
# weight decay 0.01, sliding-window (512x512) single-scale inference; mIoU on val (2,000 images).
# Augmentation (appendix A.3): random resize ratio 0.5-2.0, photometric jitter, flip, random crop
# with padding -- mmseg's ADE20k pipeline.
# LOCA sweeps the base lr over {8e-5, 1e-4, 3e-4, 8e-4} (lr_sweep/ or `ade20k_linear.sh --lr`) and
# names no default: 1e-4 here is densepre's choice. LOCA does not name the fine-tuning optimizer
# either; lr <= 8e-4 with wd 0.01 is AdamW scale, so AdamW is used (Segmenter's own recipe was SGD
# lr 1e-3, wd 0: see docs/transfer_segmentation_classification.md).
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
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.01),
    clip_grad=None)
param_scheduler = [
    dict(type='PolyLR', power=0.9, eta_min=0.0, begin=0, end=160000, by_epoch=False)
]
# bs 16 = 8 x 2; with fewer GPUs auto_scale_lr scales the lr linearly.
auto_scale_lr = dict(enable=True, base_batch_size=16)
