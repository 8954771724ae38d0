# LEWEL Table 5 row 3: global + aligned loss without the coupled head: a separate MLP with g's
# architecture (not weight-shared with g) predicts the alignment maps.
_base_ = '../lewel_m_r50_8xb32_240e_in100.py'

model = dict(
    map_head=dict(type='CoupledProjectionHead', in_channels=2048, hid_channels=2048,
                  out_channels=128, with_bias=True, with_last_bias=True,
                  norm_cfg=dict(type='BN')))
