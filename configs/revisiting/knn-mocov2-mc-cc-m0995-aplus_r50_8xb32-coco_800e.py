# Table 9: the best model (MoCo + CC + m↓ + A⁺ + kNN) for 800 epochs on COCO; the nn loss starts
# after 20 epochs (released 800-epoch script; the paper names only the 5 of the 200-ep runs).
_base_ = './knn-mocov2-mc-cc-m0995-aplus_r50_8xb32-coco_200e.py'

model = dict(warmup_epochs=20)
param_scheduler = [dict(type='CosineAnnealingLR', T_max=800, by_epoch=True, begin=0, end=800)]
train_cfg = dict(max_epochs=800)
