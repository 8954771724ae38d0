# LOCA Table 6d: 5 queries per reference (the 224 query + 4 focal 96 queries; default 10).
_base_ = '../loca_vit-b16_16xb64_100e_in1k.py'

num_focal_queries = 4
train_dataloader = dict(dataset=dict(pipeline=[
    dict(type='LoadImageRobust'),
    dict(type='GeoMultiView', views=[
        dict(num=1, name='reference', transforms={{_base_.reference_pipeline}}),
        dict(num=1, name='query', transforms={{_base_.query_pipeline}}),
        dict(num=num_focal_queries, name='query', transforms={{_base_.focal_pipeline}}),
    ]),
    dict(type='PackInputs', algorithm_keys=['view_geometry', 'view_groups']),
]))
