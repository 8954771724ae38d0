# Tables 2-3: MoCo v2, 400 epochs, on BDD100K (the complete 70K-image train split). The list is written by
# tools/dataset_converters/revisiting_subsets.py bdd100k (see ../README.md).
_base_ = './mocov2_r50_8xb32-coco_400e.py'

train_dataloader = dict(
    dataset=dict(
        type='ImageList',
        data_root='data/bdd100k/',
        ann_file='meta/bdd100k_train.txt',
        data_prefix=dict(img_path='images/100k/train/')))
