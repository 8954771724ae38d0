# LOCA Fig. 4 "single": masking ratio eta = 0 (196 of 196 patches serve as keys / values).
_base_ = './loca-pos-single_vit-b16_16xb64_100e_in1k.py'

model = dict(reference_mask_ratio=0)
