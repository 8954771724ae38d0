# "+kNN" (best model) with the released code's constrained-crop rule (>= 10 % of the small crop
# inside the key crop) instead of the paper's 20 %.
_base_ = './knn-mocov2-mc-cc-m0995-aplus_r50_8xb32-coco_200e.py'

train_dataloader = dict(dataset=dict(pipeline={{_base_.pipeline_mc_cc10_aplus}}))
