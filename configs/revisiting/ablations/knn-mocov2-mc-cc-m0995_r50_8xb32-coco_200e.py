# Table 8 base: kNN-MoCo (k = 20, λ = 0.4, nn loss from epoch 5) on the Sec. 4.1 model
# (MC + CC + m↓, no A⁺; λ = 0 is ../mocov2-mc-cc-m0995_r50_8xb32-coco_200e.py). The k and λ
# sweeps inherit from this file.
_base_ = '../mocov2-mc-cc-m0995_r50_8xb32-coco_200e.py'

model = dict(type='KNNMoCo', knn_k=20, knn_weight=0.4, warmup_epochs=5, backbone_dim=2048)
