# CLoVE Table 10: negatives from a queue of 16384 target representations of past images
# ('inter': one random target cell per image and global view),
# the same top-k rule as the intra-image negatives. The paper does not say how many entries an
# image adds per step; densepre adds one per global view (2 per image).
_base_ = '../clove_r50_4xb512-lars_50e.py'

model = dict(negative_queue=dict(strategy='inter', length=16384, dim=256))
