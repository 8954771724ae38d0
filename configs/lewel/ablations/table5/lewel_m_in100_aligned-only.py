# LEWEL Table 5 row 2: aligned loss only (beta = 1). Without a global loss, g is trained only through
# the maps, i.e. it is a separate map-predicting MLP: coupled and uncoupled coincide here.
_base_ = '../lewel_m_r50_8xb32_240e_in100.py'

model = dict(beta=1.0)
