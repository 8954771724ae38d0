# LOCA Table 5, second row: position loss only, and only each query's central patch predicts
# its position (patch (h//2, w//2) of the query grid; a 224 query whose central token was dropped
# contributes no position term).
_base_ = './loca-pos_vit-b16_16xb64_100e_in1k.py'

model = dict(position_targets='central')
