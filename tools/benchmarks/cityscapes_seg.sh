#!/usr/bin/env bash
# Cityscapes semantic segmentation, Revisiting Contrastive Methods FCN (appendix A.3): ResNet-50
# with dilated layer4 (output stride 16), head 2 x [3x3 conv 256, dilation 1, BN, ReLU] + 1x1,
# 150 epochs, batch 16, Adam 1e-4 poly, 768x768 crops -- mmseg.
#   tools/benchmarks/cityscapes_seg.sh CKPT [GPUS] [--work-dir DIR] [--cfg-options ...]
# Data: data/cityscapes/{leftImg8bit,gtFine}/{train,val} with *_gtFine_labelTrainIds.png (mmseg's
# tools/dataset_converters/cityscapes.py); other root: --cfg-options
# train_dataloader.dataset.data_root=D val_dataloader.dataset.data_root=D test_dataloader.dataset.data_root=D
# CONFIG=<config> selects another Cityscapes config (e.g. the Segmenter-linear ViT-B/16 one).
# Slurm: PARTITION=<p> tools/benchmarks/cityscapes_seg.sh CKPT 4
source "$(dirname "$0")/_launch.sh"
CONFIG=${CONFIG:-$repo/configs/benchmarks/mmsegmentation/cityscapes/fcn-revisiting_r50-d16_4xb4-150e_cityscapes-768x768.py}
[[ $# -ge 1 ]] || { sed -n 2,11p "$0" >&2; exit 2; }
run_benchmark cityscapes_seg "$CONFIG" "$@"
