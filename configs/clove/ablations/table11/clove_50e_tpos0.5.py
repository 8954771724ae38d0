# CLoVE Table 11: positive-match threshold T_pos = 0.5 (0.7 is the default).
_base_ = '../clove_r50_4xb512-lars_50e.py'

model = dict(pos_threshold=0.5)
