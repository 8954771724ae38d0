# Table 8, k = 10 neighbours (λ = 0.4).
_base_ = './knn-mocov2-mc-cc-m0995_r50_8xb32-coco_200e.py'

model = dict(knn_k=10)
