# Table 4, "+A⁺": every positive (the large query and the small crops, not the key) gets either
# the MoCo v2 colour pipeline or AutoAugment with the ImageNet policy (mmpretrain), p = 0.5 each
# (Sec. 4.2). The key keeps the MoCo v2 augmentations. The flip follows both branches, as in the
# released code (its AutoAugment branch has flip + AutoAugment, no blur).
_base_ = './mocov2-mc-cc-m0995_r50_8xb32-coco_200e.py'

train_dataloader = dict(dataset=dict(pipeline={{_base_.pipeline_mc_cc_aplus}}))
