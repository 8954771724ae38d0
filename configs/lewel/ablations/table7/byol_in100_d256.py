# LEWEL Table 7 row 1: BYOL, d = 256.
_base_ = '../byol_r50_8xb64_240e_in100.py'
