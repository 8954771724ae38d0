#!/usr/bin/env bash
# ImageNet-1k linear probe on the frozen backbone (weights and BN statistics) -- mmpretrain.
#   tools/benchmarks/linear_cls.sh CKPT [GPUS] [--protocol lewel_m|lewel_b|moco] [--work-dir DIR]
#                                  [--cfg-options ...]
# Protocols (default lewel_b):
#   lewel_m  LEWEL Sec. 4.1, LEWEL_M: LARS, batch 4096, lr 3.2, 90 epochs, cosine, wd 0
#   lewel_b  LEWEL Sec. 4.1, LEWEL_B: SGD, batch 256, lr 0.4, 50 epochs, x0.1 at 30/40, wd 0
#   moco     MoCo / Revisiting A.2: SGD, batch 256, lr 30, 100 epochs, x0.1 at 60/80, wd 1e-4
# Fewer GPUs than the paper's: gradient accumulation keeps its batch and lr (--scale-lr: scale lr).
# Data: data/imagenet/{train,val} + meta/{train,val}.txt (mmpretrain's ImageNet layout); other
# root: --cfg-options train_dataloader.dataset.data_root=D val_dataloader.dataset.data_root=D
# CONFIG=<config> overrides the protocol's config (e.g. the CPU demo config under configs/demo/).
# Slurm: PARTITION=<p> tools/benchmarks/linear_cls.sh CKPT 8 --protocol lewel_m
source "$(dirname "$0")/_launch.sh"
[[ $# -ge 1 ]] || { sed -n 2,15p "$0" >&2; exit 2; }
ckpt=$1; shift
protocol=lewel_b
rest=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --protocol) [[ $# -ge 2 ]] || { echo "error: --protocol needs a value" >&2; exit 2; }
                protocol=$2; shift 2 ;;
    --protocol=*) protocol=${1#*=}; shift ;;
    *) rest+=("$1"); shift ;;
  esac
done
cls=$repo/configs/benchmarks/classification/imagenet
case $protocol in
  lewel_m) default_config=$cls/resnet50_linear-8xb512-lars-coslr-90e_in1k.py ;;
  lewel_b) default_config=$cls/resnet50_linear-8xb32-steplr-50e_in1k.py ;;
  moco) default_config=$cls/resnet50_linear-8xb32-steplr-100e_in1k.py ;;
  *) echo "error: --protocol must be lewel_m, lewel_b or moco, got '$protocol'" >&2; exit 2 ;;
esac
run_benchmark "linear_cls_$protocol" "${CONFIG:-$default_config}" "$ckpt" ${rest[@]+"${rest[@]}"}
