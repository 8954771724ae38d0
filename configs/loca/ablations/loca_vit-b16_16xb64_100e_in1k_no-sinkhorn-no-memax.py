# LOCA Table 6a: neither Sinkhorn-Knopp nor me-max (the paper reports a collapse).
_base_ = '../loca_vit-b16_16xb64_100e_in1k.py'

model = dict(cluster_head=dict(sinkhorn_iterations=0, me_max_weight=0.))
