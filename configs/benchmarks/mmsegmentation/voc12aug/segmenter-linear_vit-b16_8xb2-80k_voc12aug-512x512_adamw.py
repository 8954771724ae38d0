# The benchmark of the config it inherits, with AdamW (betas 0.9 / 0.999) instead of Segmenter's
# SGD; same lr, weight decay and schedule. The documented option of
# ../_base_/segmenter-linear_vit-b16_mmpretrain.py.
_base_ = './segmenter-linear_vit-b16_8xb2-80k_voc12aug-512x512.py'
optim_wrapper = dict(optimizer=dict(_delete_=True, **_base_.segmenter_adamw))
