# Tables 2-3: MoCo v2, 400 epochs, on OI-118K (118K random OpenImages-v4 train images). The list is written by
# tools/dataset_converters/revisiting_subsets.py oi118k (see ../README.md).
_base_ = './mocov2_r50_8xb32-coco_400e.py'

train_dataloader = dict(
    dataset=dict(
        type='ImageList',
        data_root='data/openimages/',
        ann_file='meta/oi118k.txt',
        data_prefix=dict(img_path='train/')))
