# LEWEL Table 6 row 1: MoCo v2, d = 128.
_base_ = '../mocov2_r50_8xb32_240e_in100.py'
