# "+CC" with the released code's rule instead of the paper's: >= 10 % of the small crop inside
# the key crop, 10 tries (the released code then draws a fresh unconstrained crop; densepre keeps
# the last try, also unconstrained, and counts it in crop_fallbacks).
_base_ = './mocov2-mc-cc_r50_8xb32-coco_200e.py'

train_dataloader = dict(dataset=dict(pipeline={{_base_.pipeline_mc_cc10}}))
