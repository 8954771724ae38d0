# LOCA appendix A.3 learning-rate sweep {8e-5, 1e-4, 3e-4, 8e-4}: base lr 3e-4.
_base_ = '../segmenter-linear_vit-b16_8xb1-80k_cityscapes-768x768.py'
optim_wrapper = dict(optimizer=dict(lr=3e-4))
