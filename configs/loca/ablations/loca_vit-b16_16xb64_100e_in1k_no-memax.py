# LOCA Table 6a: no me-max regulariser (Sinkhorn-Knopp kept).
_base_ = '../loca_vit-b16_16xb64_100e_in1k.py'

model = dict(cluster_head=dict(me_max_weight=0.))
