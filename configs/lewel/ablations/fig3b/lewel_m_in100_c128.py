# LEWEL Fig. 3b: LEWEL_M on IN-100 with aligned-embedding size c = 128 (d = 128 fixed). The figure's
# c values are not in the paper's text; densepre sweeps 16 ... 256 around its reported plateau at 64.
_base_ = '../lewel_m_r50_8xb32_240e_in100.py'

model = dict(aligned_projector=dict(out_channels=128))
