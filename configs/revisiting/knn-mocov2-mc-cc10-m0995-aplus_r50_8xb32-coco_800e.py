# Table 9 (800 epochs) with the released code's constrained-crop rule (>= 10 %) instead of 20 %.
_base_ = './knn-mocov2-mc-cc-m0995-aplus_r50_8xb32-coco_800e.py'

train_dataloader = dict(dataset=dict(pipeline={{_base_.pipeline_mc_cc10_aplus}}))
