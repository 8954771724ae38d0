# Tables 2-3: MoCo v2, 400 epochs, on IN-118K (118 images from each ImageNet-1K class). The list is written by
# tools/dataset_converters/revisiting_subsets.py in118k (see ../README.md).
_base_ = './mocov2_r50_8xb32-coco_400e.py'

train_dataloader = dict(
    dataset=dict(
        type='ImageList',
        data_root='data/imagenet/',
        ann_file='meta/in118k.txt',
        data_prefix=dict(img_path='train/')))
