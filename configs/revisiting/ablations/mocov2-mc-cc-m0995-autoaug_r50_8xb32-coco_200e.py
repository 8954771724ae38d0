# Table 7, "AutoAugment": the positives get AutoAugment (ImageNet policy) instead of the MoCo v2
# colour pipeline (APlusAugment prob=1). Table 7's other rows: "standard" is
# ../mocov2-mc-cc-m0995_r50_8xb32-coco_200e.py, "random choice" (A⁺) is
# ../mocov2-mc-cc-m0995-aplus_r50_8xb32-coco_200e.py.
_base_ = '../mocov2-mc-cc-m0995-aplus_r50_8xb32-coco_200e.py'

train_dataloader = dict(dataset=dict(pipeline={{_base_.pipeline_mc_cc_autoaug}}))
