# LOCA Table 5 row 3 "query box coordinates": the position head regresses each query's box in the
# reference (5 * L1 + 2 * (1 - GIoU), UP-DETR's / DETR's defaults) instead of classifying every
# query patch's position; position loss only, as the other Table 5 rows.
_base_ = './loca-pos_vit-b16_16xb64_100e_in1k.py'

model = dict(position_head=dict(output='box'))
