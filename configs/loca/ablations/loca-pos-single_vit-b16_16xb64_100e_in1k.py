# LOCA Fig. 4 "single" (after Zhai et al.): position prediction within one view — the 224 view
# through the student without position embedding, every patch predicting its own position, the
# attention keys / values of every block limited to the unmasked patches (eta = 0.8: 40 of 196).
# The query-reference curve of Fig. 4 is loca-pos_*. The cross-attention of the position head
# gets no reference tokens (no gradient): find_unused_parameters for DDP.
_base_ = './loca-pos_vit-b16_16xb64_100e_in1k.py'

model = dict(position_mode='single')
train_dataloader = dict(
    dataset=dict(pipeline=[
        dict(type='LoadImageRobust'),
        dict(type='GeoMultiView', views=[
            dict(num=1, name='reference', transforms=_base_.reference_pipeline)]),
        dict(type='PackInputs', algorithm_keys=['view_geometry', 'view_groups']),
    ]))
model_wrapper_cfg = dict(type='MMDistributedDataParallel', find_unused_parameters=True)
