# CLoVE Table 8: ranking loss (Eq. 2), 2x224 + 6x96 views (the ablation base).
_base_ = '../clove_r50_4xb512-lars_50e.py'
