# CLoVE Table 8: BYOL's normalised l2 loss, 2x224 views only (no multi-crop).
_base_ = '../clove_r50_4xb512-lars_50e.py'

model = dict(loss=dict(loss_type='l2'))
train_dataloader = dict(dataset=dict(pipeline=[
    dict(type='LoadImageRobust'),
    dict(type='GeoMultiView', views=[
        dict(num=1, name='global', transforms={{_base_.global_pipeline1}}),
        dict(num=1, name='global', transforms={{_base_.global_pipeline2}}),
    ]),
    dict(type='PackInputs', algorithm_keys=['view_geometry', 'view_groups']),
]))
