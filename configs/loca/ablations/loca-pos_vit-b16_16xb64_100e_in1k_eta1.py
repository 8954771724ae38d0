# LOCA Fig. 4 / Fig. 5: position loss only, reference masking ratio eta = 1
# (0 of 196 reference tokens visible; none: the cross-attention adds nothing).
_base_ = './loca-pos_vit-b16_16xb64_100e_in1k.py'

model = dict(reference_mask_ratio=1)
# with no visible reference token the key/value LayerNorm and the attention get no gradient
model_wrapper_cfg = dict(type='MMDistributedDataParallel', find_unused_parameters=True)
