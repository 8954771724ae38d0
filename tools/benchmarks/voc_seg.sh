#!/usr/bin/env bash
# VOC12aug semantic segmentation, dilated FCN R50-D8 (output stride 8), 20k iterations, batch 16,
# poly lr (LEWEL Table 3-7) -- mmseg.
#   tools/benchmarks/voc_seg.sh CKPT [GPUS] [--work-dir DIR] [--cfg-options ...]
# Data: data/VOCdevkit/VOC2012 with SegmentationClassAug (override with --cfg-options, see docs).
# Slurm: PARTITION=<p> tools/benchmarks/voc_seg.sh CKPT 4
source "$(dirname "$0")/_launch.sh"
CONFIG=${CONFIG:-$repo/configs/benchmarks/mmsegmentation/voc12aug/fcn_r50-d8_4xb4-20k_voc12aug-512x512.py}
[[ $# -ge 1 ]] || { sed -n 2,7p "$0" >&2; exit 2; }
run_benchmark voc_seg "$CONFIG" "$@"
