# CLoVE Table 10: intra-image hard negatives (the ablation base; CLoVE's default).
_base_ = '../clove_r50_4xb512-lars_50e.py'
