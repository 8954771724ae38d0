# LOCA ViT-L/16, 600 epochs on ImageNet-1k (Fig. 2 / Table 11 model axis). The position head
# uses the encoder's width, heads and MLP size (as in the authors' code).
_base_ = './loca_vit-b16_16xb64_600e_in1k.py'

model = dict(
    backbone=dict(arch='large'),
    position_head=dict(embed_dims=1024, num_heads=16, feedforward_channels=4096),
    cluster_head=dict(in_channels=1024))
