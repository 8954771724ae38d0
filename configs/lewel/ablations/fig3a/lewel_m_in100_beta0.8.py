# LEWEL Fig. 3a: LEWEL_M on IN-100 with loss weight beta = 0.8 (L = (1-beta) L_g + beta L_a).
_base_ = '../lewel_m_r50_8xb32_240e_in100.py'

model = dict(beta=0.8)
