# LEWEL Table 5 row 1: global loss only (beta = 0; the aligned branch is not built). The paper
# reports its MoCo v2 baseline here (same numbers as Table 6 row 1): see table6/mocov2_in100_d128.py.
_base_ = '../lewel_m_r50_8xb32_240e_in100.py'

model = dict(beta=0.0)
