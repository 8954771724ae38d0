# LEWEL Table 6 row 4: MoCo v2 with an extra projection head p, d = 128. densepre's reading: the
# LEWEL_M model with uniform maps (Eq. 1 with W = 1/HW, i.e. every aligned representation is the
# GAP vector), so p adds its parameters and its (in-batch InfoNCE) loss but no alignment. With
# uniform maps all d/h aligned embeddings are identical: h = 128 gives a single one (same loss,
# same BN statistics, less compute).
_base_ = '../lewel_m_r50_8xb32_240e_in100.py'

model = dict(map_mode='uniform', num_groups=128)
