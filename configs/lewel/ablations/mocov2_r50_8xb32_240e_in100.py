# MoCo v2 on IN-100 (LEWEL Table 5 row 1 / Table 6 "MoCov2" rows): the LEWEL_M IN-100 recipe
# without the aligned branch (lr 0.12, 240 epochs, AMP as all of LEWEL's runs). One-directional
# like LEWEL_M (its Table 9: MoCo v2 and LEWEL_M take the same time per epoch), so the comparison
# changes only the alignment.
_base_ = '../../mocov2/mocov2_r50_8xb32_200e.py'

train_dataloader = dict(dataset=dict(class_subset='imagenet100'))
optim_wrapper = dict(type='AmpOptimWrapper', loss_scale='dynamic', optimizer=dict(lr=0.12))
param_scheduler = [dict(type='CosineAnnealingLR', T_max=240, by_epoch=True, begin=0, end=240)]
train_cfg = dict(max_epochs=240)
