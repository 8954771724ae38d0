# Segmenter's linear decoder (Strudel et al., ICCV 2021) on a ViT-B/16, as LOCA evaluates it
# (Caron et al., "Location-Aware Self-Supervised Transformers", Sec. 4 and appendix A.3).
#
# The backbone is mmpretrain's `VisionTransformer` built from the mmseg config
# (`type='mmpretrain.VisionTransformer'`): densepre's ViT checkpoints use mmpretrain's key layout
# (`backbone.layers.N.attn.qkv.weight`, `backbone.ln1.*`, ...), which mmseg's own
# `VisionTransformer` does not share (`attn.attn.in_proj_weight`, `norm1`, ...); with mmseg's class
# half the backbone would silently stay random. LOCA's ViT has no class token; the backbone returns
# the final-LayerNorm patch tokens as a (B, 768, H/16, W/16) map, and the decoder is a per-patch
# linear layer (mmseg `FCNHead` with num_convs=0 = a 1x1 conv) whose logits are bilinearly
# upsampled, as in Segmenter's `DecoderLinear`.
#
# `img_size=224` keeps the position embedding at the checkpoint's 14x14 grid, so every tensor
# loads exactly (the complete-loading check compares shapes); it is bicubically resized to the
# input's grid in every forward pass (512 crops: 32x32), i.e. the 14x14 grid is what is fine-tuned.
# For a checkpoint WITH a class token (e.g. a converted DINO / MoCo v3 / MAE model) set
# `model.backbone.with_cls_token=True`: the class token is loaded and dropped from the output map.
model = dict(
    type='EncoderDecoder',
    data_preprocessor=dict(
        type='SegDataPreProcessor',
        # densepre's pretraining normalisation (ImageNet mean/std, RGB): must match the
        # checkpoint's pretraining pipeline.
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
        pad_val=0,
        seg_pad_val=255),
    pretrained=None,
    backbone=dict(
        type='mmpretrain.VisionTransformer',
        arch='base',
        img_size=224,
        patch_size=16,
        out_indices=-1,
        out_type='featmap',
        with_cls_token=False,
        final_norm=True,
        drop_rate=0.0,
        drop_path_rate=0.1,
        norm_cfg=dict(type='LN', eps=1e-6),
        interpolate_mode='bicubic',
        init_cfg=None),
    decode_head=dict(
        type='FCNHead',
        in_channels=768,
        channels=768,
        num_convs=0,
        concat_input=False,
        dropout_ratio=0.0,
        num_classes=150,
        align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    train_cfg=dict(),
    test_cfg=dict(mode='slide', crop_size=(512, 512), stride=(480, 480)))
pretrained_parts = [dict(module='backbone', prefix='backbone.')]

# Optimisation (LOCA appendix A.3 "precisely follow[s] the experimental setup of Segmenter"): LOCA
# states the poly schedule, weight decay 0.01 and the lr sweep {8e-5, 1e-4, 3e-4, 8e-4}; where it is
# silent, Segmenter's released recipe (rstrudel/segmenter segm/train.py): SGD, momentum 0.9, poly
# power 0.9 down to min_lr 1e-5, no warm-up, drop path 0.1. Default lr 8e-4: LOCA names no
# default; 8e-4 is the sweep value closest to Segmenter's released 1e-3.
# AdamW (betas 0.9 / 0.999, same lr sweep and wd) is the documented option: the `_adamw` configs, or
# `ade20k_linear.sh --optimizer adamw`.
segmenter_sgd = dict(type='SGD', lr=8e-4, momentum=0.9, weight_decay=0.01)
segmenter_adamw = dict(type='AdamW', lr=8e-4, betas=(0.9, 0.999), weight_decay=0.01)
segmenter_poly_eta_min = 1e-5
