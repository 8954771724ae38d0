# LEWEL Table 5 row 4: global + aligned loss with the coupled head (the LEWEL_M default).
_base_ = '../lewel_m_r50_8xb32_240e_in100.py'
