# CLoVE Table 9: plain multi-head self-attention (q.k / sqrt(d), no q/k normalisation).
_base_ = '../clove_r50_4xb512-lars_50e.py'

model = dict(predictor=dict(normalize=False))
