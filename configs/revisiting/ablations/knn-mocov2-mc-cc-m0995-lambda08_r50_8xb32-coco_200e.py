# Table 8, λ = 0.8 (k = 20).
_base_ = './knn-mocov2-mc-cc-m0995_r50_8xb32-coco_200e.py'

model = dict(knn_weight=0.8)
