# CLoVE Table 8: BYOL's normalised l2 loss (2 - 2 cos over the matched pairs, no negatives),
# 2x224 + 6x96 views.
_base_ = '../clove_r50_4xb512-lars_50e.py'

model = dict(loss=dict(loss_type='l2'))
