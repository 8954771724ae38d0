# The best model (kNN-MoCo + CC + m 0.995 + A+) as the authors' released script
# (scripts/ours_warmup_coco_200ep.sh) trains it: CC rule >= 10 %, AutoAugment filled with 0 and
# sheared about the centre (nearest, factor tan m). Every other value already equals the
# release (fp32, SGD lr 0.3 / wd 1e-4 / momentum 0.9, per-epoch cosine, m 0.995, k 20,
# lambda 0.4, nn loss from epoch 5); configs/revisiting/README.md lists what still differs.
_base_ = './knn-mocov2-mc-cc-m0995-aplus_r50_8xb32-coco_200e.py'

train_dataloader = dict(dataset=dict(pipeline={{_base_.pipeline_mc_cc10_aplus_release}}))
