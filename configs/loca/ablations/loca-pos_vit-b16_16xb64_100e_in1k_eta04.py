# LOCA Fig. 4 / Fig. 5: position loss only, reference masking ratio eta = 0.4
# (118 of 196 reference tokens visible).
_base_ = './loca-pos_vit-b16_16xb64_100e_in1k.py'

model = dict(reference_mask_ratio=0.4)
