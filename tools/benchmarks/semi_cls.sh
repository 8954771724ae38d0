#!/usr/bin/env bash
# ImageNet-1k semi-supervised classification (LEWEL Sec. 4.2): fine-tune the whole ResNet-50 on
# SimCLR's 1 % or 10 % label subset, 50 epochs, classifier / backbone lr 1.0 / 1e-4 (1 %) or
# 0.1 / 0.01 (10 %), x0.1 at epochs 30 and 40 -- mmpretrain.
#   tools/benchmarks/semi_cls.sh CKPT 1|10 [GPUS] [--work-dir DIR] [--cfg-options ...]
# Data: data/imagenet/{train,val}, meta/val.txt and meta/train_1percent.txt / train_10percent.txt
# (SimCLR's 1percent.txt / 10percent.txt converted to mmpretrain's "<wnid>/<file> <label>" lines;
# see docs/transfer_segmentation_classification.md). Other root: --cfg-options
# train_dataloader.dataset.data_root=D val_dataloader.dataset.data_root=D
# CONFIG=<config> overrides the config.
# Slurm: PARTITION=<p> tools/benchmarks/semi_cls.sh CKPT 10 8
source "$(dirname "$0")/_launch.sh"
[[ $# -ge 2 ]] || { sed -n 2,12p "$0" >&2; exit 2; }
ckpt=$1 pct=$2; shift 2
case $pct in
  1|10) ;;
  *) echo "error: the label fraction must be 1 or 10 (percent), got '$pct'" >&2; exit 2 ;;
esac
default_config=$repo/configs/benchmarks/classification/imagenet_${pct}percent/resnet50_semi-8xb32-steplr-50e_in1k-${pct}pct.py
run_benchmark "semi_cls_${pct}pct" "${CONFIG:-$default_config}" "$ckpt" "$@"
