# ViT-S/16 variant of segmenter-linear_vit-b16_8xb2-80k_pascal-context-512x512.py:
# mmpretrain's `arch='deit-small'` (384 dims, 12 layers, 6 heads, MLP 1536: the DeiT-S / DINO /
# MoCo v3 ViT-S/16; mmpretrain's `'small'` is another model, 768 dims and 8 layers) and a
# 384-channel linear decoder.
_base_ = './segmenter-linear_vit-b16_8xb2-80k_pascal-context-512x512.py'
model = dict(
    backbone=dict(arch='deit-small'),
    decode_head=dict(in_channels=384, channels=384))
