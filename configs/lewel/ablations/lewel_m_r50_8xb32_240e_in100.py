# IN-100 default of the LEWEL ablations (LEWEL Sec. 3.3 / 4.4, Tables 5, 6, Fig. 3): LEWEL_M with
# the IN-1K recipe, the initial lr doubled (0.06 -> 0.12) and 240 epochs "following [37]" (CMC),
# "keep the rest unchanged". IN-100 = the 100 classes of CMC's list, shipped as
# class_subset='imagenet100' (images stay in the IN-1K tree; ImageList keeps the listed classes).
_base_ = '../lewel_m_r50_8xb32_200e.py'

train_dataloader = dict(dataset=dict(class_subset='imagenet100'))
optim_wrapper = dict(optimizer=dict(lr=0.12))
param_scheduler = [dict(type='CosineAnnealingLR', T_max=240, by_epoch=True, begin=0, end=240)]
train_cfg = dict(max_epochs=240)
