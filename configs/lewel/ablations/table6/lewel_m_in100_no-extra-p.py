# LEWEL Table 6 row 5: LEWEL_M without an extra semantic projector: g also maps the aligned
# representations y_k to the aligned embeddings (c = d = 128).
_base_ = '../lewel_m_r50_8xb32_240e_in100.py'

model = dict(aligned_projector=None)
