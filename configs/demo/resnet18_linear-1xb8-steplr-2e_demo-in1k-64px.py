# CPU demo of the IN-1K linear probe (LEWEL_B protocol config, tools/benchmarks/linear_cls.sh):
# ResNet-18 (the tiny test pretraining's backbone) frozen, a 4-class linear head, 64 px crops,
# 2 epochs on the synthetic demo ImageNet-style set (tools/demo.py / tests' demo data), evaluated
# on the same images (the demo set has no val split).
#   CONFIG=configs/demo/resnet18_linear-1xb8-steplr-2e_demo-in1k-64px.py \
#     tools/benchmarks/linear_cls.sh CKPT --cfg-options \
#     train_dataloader.dataset.data_root=data/demo/imagenet val_dataloader.dataset.data_root=...
_base_ = '../benchmarks/classification/imagenet/resnet50_linear-8xb32-steplr-50e_in1k.py'

data_root = 'data/demo/imagenet'
model = dict(
    backbone=dict(depth=18),
    head=dict(num_classes=4, in_channels=512, topk=(1, )))
data_preprocessor = dict(num_classes=4)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=64, backend='pillow'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=73, edge='short', backend='pillow'),
    dict(type='CenterCrop', crop_size=64),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=8,
    num_workers=0,
    dataset=dict(data_root=data_root, split='', data_prefix='train', ann_file='meta/train.txt',
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=8,
    num_workers=0,
    dataset=dict(data_root=data_root, split='', data_prefix='train', ann_file='meta/train.txt',
                 pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='Accuracy', topk=(1, ))
test_evaluator = val_evaluator
# lr 0.02 instead of the protocol's 0.4: the demo backbone's features are barely trained.
optim_wrapper = dict(optimizer=dict(lr=0.02))
param_scheduler = [dict(type='MultiStepLR', by_epoch=True, milestones=[1], gamma=0.1)]
train_cfg = dict(max_epochs=2, val_interval=2)
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=2, max_keep_ckpts=1))
auto_scale_lr = dict(enable=False, base_batch_size=8)
randomness = dict(seed=0)
