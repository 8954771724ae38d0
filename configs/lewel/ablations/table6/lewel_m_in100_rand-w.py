# LEWEL Table 6 row 6: LEWEL_M with random alignment maps W (fixed, seeded Gaussian logits through the
# same normalisation as learned maps; the same maps for every image and view).
_base_ = '../lewel_m_r50_8xb32_240e_in100.py'

model = dict(map_mode='random')
