# CLoVE Table 9: normalised multi-head self-attention (the ablation base).
_base_ = '../clove_r50_4xb512-lars_50e.py'
