# LOCA Table 6c: K = 16384 cluster prototypes (default 4096).
_base_ = '../loca_vit-b16_16xb64_100e_in1k.py'

model = dict(cluster_head=dict(num_prototypes=16384))
