# The synthetic demo VOC12aug split (tools/demo.py writes it) and the 300-iteration demo schedule,
# shared by the demo segmentation transfers (fcn_r18-d8_..._demo-voc-96x96.py,
# loca-segmenter-linear_..._demo-voc-64x64.py). Names are prefixed `demo_voc_` because a second
# _base_ may not repeat the benchmark config's keys; a demo config plugs its own size-specific
# pipelines in:
#   train_dataloader = dict(_base_.demo_voc_train_dataloader,
#                           dataset=dict(_base_.demo_voc_train_dataloader.dataset,
#                                        pipeline=train_pipeline))
demo_voc_data_root = 'data/demo/VOCdevkit/VOC2012'
demo_voc_train_dataloader = dict(
    batch_size=8,
    num_workers=2,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        _delete_=True,
        type='PascalVOCDataset',
        data_root=demo_voc_data_root,
        data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClassAug'),
        ann_file='ImageSets/Segmentation/aug.txt'))
demo_voc_val_dataloader = dict(
    batch_size=1, num_workers=2, dataset=dict(data_root=demo_voc_data_root))
demo_voc_train_cfg = dict(max_iters=300, val_interval=300)
demo_voc_default_hooks = dict(
    logger=dict(interval=25),
    checkpoint=dict(interval=300, max_keep_ckpts=1),
    visualization=dict(type='SegVisualizationHook', draw=False))
