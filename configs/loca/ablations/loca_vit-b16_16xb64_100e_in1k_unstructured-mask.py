# LOCA Sec. 3: unstructured reference masking (a random 20 % of the tokens instead of a
# consecutive run; the paper reports -0.8 mIoU).
_base_ = '../loca_vit-b16_16xb64_100e_in1k.py'

model = dict(reference_masking='unstructured')
