# LOCA Sec. 5.1 / Fig. 4 query-reference curve: the position loss (Eq. 2) alone, eta = 0.8.
# Sec. 5.1 trains these analysis models with the position loss only; the teacher then averages
# the backbone only. (The authors' code encodes the reference with the student and drops the
# query position embedding in this mode; densepre keeps LOCA's design, see README.)
_base_ = '../loca_vit-b16_16xb64_100e_in1k.py'

model = dict(cluster_head=None)
