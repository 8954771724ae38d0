# LOCA Sec. 5.1 'Combining with patch clustering': the cluster loss (Eq. 1 + me-max) alone.
_base_ = '../loca_vit-b16_16xb64_100e_in1k.py'

model = dict(position_head=None)
