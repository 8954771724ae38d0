# LOCA ViT-H/16, 600 epochs on ImageNet-1k (Table 11 model axis; the ImageNet-21k ViT-H of
# Tables 4 / 11 is this recipe on IN-21k data). mmpretrain arch 'huge' (1280 dims, 32 layers, 16
# heads); the position head uses the encoder's width, heads and MLP size.
_base_ = './loca_vit-b16_16xb64_600e_in1k.py'

model = dict(
    backbone=dict(arch='huge'),
    position_head=dict(embed_dims=1280, num_heads=16, feedforward_channels=5120),
    cluster_head=dict(in_channels=1280))
