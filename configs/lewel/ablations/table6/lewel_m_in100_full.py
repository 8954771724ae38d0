# LEWEL Table 6 row 7: LEWEL_M (the default).
_base_ = '../lewel_m_r50_8xb32_240e_in100.py'
