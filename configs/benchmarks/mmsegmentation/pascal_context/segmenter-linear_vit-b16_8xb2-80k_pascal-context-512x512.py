# LOCA (Caron et al.) Table 1 / Table 8 "P.Cont": Pascal Context with 60 classes (59 + background,
# appendix A.2: 4,998 train / 5,105 val), ViT-B/16 + Segmenter linear decoder, 80k iterations at
# batch 16 (8 GPUs x 2), 512x512 crops (LOCA uses 512 for every dataset but Cityscapes; mmseg's
# Pascal Context base uses 480), poly lr, weight decay 0.01, sliding-window 512 inference.
# lr: LOCA sweeps {8e-5, 1e-4, 3e-4, 8e-4} (`ade20k_linear.sh --dataset pcontext --lr X`);
# default 8e-4 with Segmenter's SGD; AdamW: the `_adamw` config (see the _base_ segmenter).
_base_ = [
    '../_base_/segmenter-linear_vit-b16_mmpretrain.py',
    'mmseg::_base_/datasets/pascal_context.py',
    'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_80k.py',
]
default_scope = 'mmseg'
crop_size = (512, 512)
model = dict(
    data_preprocessor=dict(size=crop_size),
    decode_head=dict(num_classes=60),
    test_cfg=dict(mode='slide', crop_size=crop_size, stride=(480, 480)))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomResize', scale=(2048, 512), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(2048, 512), keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(batch_size=2, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
optim_wrapper = dict(
    _delete_=True, type='OptimWrapper', optimizer=_base_.segmenter_sgd, clip_grad=None)
param_scheduler = [
    dict(type='PolyLR', power=0.9, eta_min=_base_.segmenter_poly_eta_min, begin=0,
         end=80000, by_epoch=False)
]
auto_scale_lr = dict(enable=True, base_batch_size=16)
