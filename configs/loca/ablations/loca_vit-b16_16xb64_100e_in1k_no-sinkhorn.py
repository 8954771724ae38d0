# LOCA Table 6a: no Sinkhorn-Knopp on the teacher targets (me-max kept).
_base_ = '../loca_vit-b16_16xb64_100e_in1k.py'

model = dict(cluster_head=dict(sinkhorn_iterations=0))
