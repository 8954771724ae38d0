# Revisiting-Contrastive Table 4, row "MoCo": MoCo v2 on COCO train2017 images (118K, labels
# unused), 200 epochs, 8 GPUs x 32 = 256, SGD lr 0.3 @ 256, wd 1e-4, cosine; tau 0.2, m 0.999,
# K 65536, MLP head without BN; two 224-px views (scale 0.2-1) with the MoCo v2 augmentations.
_base_ = '../mocov2/mocov2_r50_8xb32_200e.py'

data_root = 'data/coco/'
train_dataloader = dict(
    dataset=dict(
        type='CocoImages',
        data_root=data_root,
        ann_file='annotations/instances_train2017.json',
        data_prefix=dict(img_path='train2017/')))

model = dict(momentum=0.001)  # 1 - m, m = 0.999
# fp32, as the authors trained (the released main*.py use neither autocast nor a GradScaler; the
# paper is silent). AMP is an option: --cfg-options optim_wrapper.type=AmpOptimWrapper (README).
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    constructor='SkipEMAOptimWrapperConstructor',  # the key encoder is not optimised
    optimizer=dict(type='SGD', lr=0.3, weight_decay=1e-4, momentum=0.9))
param_scheduler = [dict(type='CosineAnnealingLR', T_max=200, by_epoch=True, begin=0, end=200)]
train_cfg = dict(max_epochs=200)
auto_scale_lr = dict(base_batch_size=256)
