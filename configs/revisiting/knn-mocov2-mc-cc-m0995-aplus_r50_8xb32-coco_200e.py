# Table 4, "+kNN" (the best model, MoCo + CC + m↓ + A⁺ + kNN): kNN-MoCo (Sec. 4.3). A side-queue
# of the key encoder's normalised GAP ResNet-50 features, aligned with the key queue; for every
# positive its k = 20 nearest neighbours there are extra positives of a multi-label CE over the
# head logits; L = L_inst + 0.4 L_nn, L_nn from epoch 5 on (suppl. B; released script for 200 ep).
_base_ = './mocov2-mc-cc-m0995-aplus_r50_8xb32-coco_200e.py'

model = dict(type='KNNMoCo', knn_k=20, knn_weight=0.4, warmup_epochs=5, backbone_dim=2048)
