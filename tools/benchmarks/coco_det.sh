#!/usr/bin/env bash
# COCO object detection + instance segmentation, Mask R-CNN R50-C4 (1x) or R50-FPN (1x / 2x),
# batch 16, multi-scale training, COCO val2017 bbox / segm AP (LEWEL Tables 4 and 8, CLoVE Tables
# 1 and 2) -- mmdet, MoCo detection protocol (SyncBN everywhere, extra norm after res5 for C4).
#   tools/benchmarks/coco_det.sh CKPT [c4|fpn] [1x|2x] [GPUS] [--work-dir DIR] [--cfg-options ...]
#   (defaults: fpn 1x; c4 has the 1x schedule only)
# Data: data/coco/{train2017,val2017,annotations} (other places: docs/transfer_detection.md).
# CPU demo: CONFIG=configs/demo/mask-rcnn_r18_fpn_1xb2-ms-200it_demo-coco.py coco_det.sh CKPT
# Slurm: PARTITION=<p> tools/benchmarks/coco_det.sh CKPT fpn 2x 8
source "$(dirname "$0")/_launch.sh"
[[ $# -ge 1 ]] || { sed -n 2,9p "$0" >&2; exit 2; }
ckpt=$1; shift
arch=fpn; sched=1x
if [[ $# -gt 0 && $1 =~ ^(c4|fpn)$ ]]; then arch=$1; shift; fi
if [[ $# -gt 0 && $1 =~ ^[0-9]+x$ ]]; then sched=$1; shift; fi
dir=$repo/configs/benchmarks/mmdetection/coco
case $arch-$sched in
  c4-1x) cfg=$dir/mask-rcnn_r50-c4_ms-1x_coco.py ;;
  fpn-1x) cfg=$dir/mask-rcnn_r50_fpn_ms-1x_coco.py ;;
  fpn-2x) cfg=$dir/mask-rcnn_r50_fpn_ms-2x_coco.py ;;
  *) echo "error: no COCO benchmark for $arch $sched (c4: 1x; fpn: 1x, 2x)" >&2; exit 2 ;;
esac
if [[ -n ${CONFIG:-} ]]; then name=$(basename "$CONFIG" .py); else
  name=coco_det_${arch}_$sched; CONFIG=$cfg
fi
run_benchmark "$name" "$CONFIG" "$ckpt" "$@"
