# LOCA Table 2 "few-shot semantic segmentation": the ADE20k Segmenter-linear benchmark trained on
# a random fraction (1/32, 1/16, 1/8, 1/4, 1/2, 1) of the 20,210 training images, mean over five
# folds (different random subsets); mIoU on the full val set. The paper keeps the fine-tuning
# recipe (it states no other schedule): 160k iterations here too.
# The subset is an mmseg ann-file (image names without extension) written deterministically by
#   python tools/benchmarks/make_fewshot_split.py data/ade/ADEChallengeData2016 --all
# (seed 0: fold k uses np.random.default_rng([seed, k]); the fractions of a fold are nested).
# `tools/benchmarks/ade20k_linear.sh CKPT --fraction 1/8 --fold 2` writes the list if needed and
# sets ann_file and the run's seed (= fold). This config's default is fraction 1/32, fold 0.
_base_ = './segmenter-linear_vit-b16_8xb2-160k_ade20k-512x512.py'
train_dataloader = dict(dataset=dict(ann_file='fewshot/ade20k_train_frac1-32_fold0.txt'))
randomness = dict(seed=0)
