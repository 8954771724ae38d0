# BYOL on IN-100 (LEWEL Table 7 row "BYOL 256"): the LEWEL_B IN-100 recipe without the aligned
# branch (lr 3.6, 240 epochs), with AMP as all of LEWEL's runs (Sec. 3.3, Table 9).
_base_ = '../../byol/byol_r50_8xb64_200e.py'

train_dataloader = dict(dataset=dict(class_subset='imagenet100'))
optim_wrapper = dict(type='AmpOptimWrapper', loss_scale='dynamic', optimizer=dict(lr=3.6))
param_scheduler = [dict(type='CosineAnnealingLR', T_max=240, by_epoch=True, begin=0, end=240)]
train_cfg = dict(max_epochs=240)
