#!/usr/bin/env bash
# Pascal VOC07+12 object detection, Faster R-CNN R50-C4, 24k iterations, batch 16, lr steps at 18k
# and 22k, multi-scale training, VOC07 test 11-point AP / AP50 / AP75 (LEWEL Table 3, CLoVE
# Table 6) -- mmdet, MoCo detection protocol (SyncBN, extra norm after res5).
#   tools/benchmarks/voc_det.sh CKPT [GPUS] [--work-dir DIR] [--cfg-options ...]
# Data: data/VOCdevkit/{VOC2007,VOC2012} (other places: docs/transfer_detection.md).
# CPU demo: CONFIG=configs/demo/faster-rcnn_r18-c4_1xb2-ms-200it_demo-voc0712.py voc_det.sh CKPT
# Slurm: PARTITION=<p> tools/benchmarks/voc_det.sh CKPT 8
source "$(dirname "$0")/_launch.sh"
[[ $# -ge 1 ]] || { sed -n 2,8p "$0" >&2; exit 2; }
if [[ -n ${CONFIG:-} ]]; then name=$(basename "$CONFIG" .py); else
  name=voc_det
  CONFIG=$repo/configs/benchmarks/mmdetection/voc0712/faster-rcnn_r50-c4_ms-24k_voc0712.py
fi
run_benchmark "$name" "$CONFIG" "$@"
