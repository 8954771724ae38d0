# LOCA Table 6d: a single query per reference (the 224 query only; default 10).
_base_ = '../loca_vit-b16_16xb64_100e_in1k.py'

train_dataloader = dict(dataset=dict(pipeline=[
    dict(type='LoadImageRobust'),
    dict(type='GeoMultiView', views=[
        dict(num=1, name='reference', transforms={{_base_.reference_pipeline}}),
        dict(num=1, name='query', transforms={{_base_.query_pipeline}}),
    ]),
    dict(type='PackInputs', algorithm_keys=['view_geometry', 'view_groups']),
]))
