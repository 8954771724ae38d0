# Table 4, "+MC": two 160-px crops (scale 0.2-1; view 0 the query, view 1 the key/anchor) plus
# N = 4 small 96-px crops (scale 0.05-0.14; the paper leaves N open, the released code uses 4).
# Small crops are extra positives of the key only: never encoded by the key encoder, never
# enqueued (view_pairs). Views of one size share one backbone pass.
_base_ = ['./mocov2_r50_8xb32-coco_200e.py', './_base_/multicrop_pipelines.py']

train_dataloader = dict(dataset=dict(pipeline={{_base_.pipeline_mc}}))

model = dict(view_pairs=dict(keys=['key'], queries=['query', 'local']))
