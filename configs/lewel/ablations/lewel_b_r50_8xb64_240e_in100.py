# IN-100 default of the LEWEL_B ablation (LEWEL Table 7): LEWEL_B with the IN-1K recipe, the
# initial lr doubled (1.8 -> 3.6) and 240 epochs (Sec. 3.3), d = 256, h = 4, c = d.
_base_ = '../lewel_b_r50_8xb64_200e.py'

train_dataloader = dict(dataset=dict(class_subset='imagenet100'))
optim_wrapper = dict(optimizer=dict(lr=3.6))
param_scheduler = [dict(type='CosineAnnealingLR', T_max=240, by_epoch=True, begin=0, end=240)]
train_cfg = dict(max_epochs=240)
