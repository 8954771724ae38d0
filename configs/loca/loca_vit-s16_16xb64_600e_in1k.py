# LOCA ViT-S/16 (384 dims, 12 layers, 6 heads: mmpretrain's 'deit-small'; its 'small' is another
# model), 600 epochs on ImageNet-1k (Fig. 2 / Table 11 model axis). The position head
# uses the encoder's width, heads and MLP size (as in the authors' code).
_base_ = './loca_vit-b16_16xb64_600e_in1k.py'

model = dict(
    backbone=dict(arch='deit-small'),
    position_head=dict(embed_dims=384, num_heads=6, feedforward_channels=1536),
    cluster_head=dict(in_channels=384))
