# MoCo v2 on IN-100 (LEWEL Table 5 row 1 / Table 6 "MoCov2" rows): the LEWEL_M IN-100 recipe
# without the aligned branch (lr 0.12, 240 epochs). symmetric=True so that the comparison with
# LEWEL_M changes only the alignment: the paper does not say whether its MoCo v2 reproduction is
# symmetrised; its Table 9 (MoCo v2 and LEWEL_M take the same time per epoch) suggests that both
# do the same number of passes. Set model.symmetric=False for the original MoCo v2 loss.
_base_ = '../../mocov2/mocov2_r50_8xb32_200e.py'

model = dict(symmetric=True)
train_dataloader = dict(dataset=dict(class_subset='imagenet100'))
optim_wrapper = dict(optimizer=dict(lr=0.12))
param_scheduler = [dict(type='CosineAnnealingLR', T_max=240, by_epoch=True, begin=0, end=240)]
train_cfg = dict(max_epochs=240)
