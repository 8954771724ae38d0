#!/usr/bin/env bash
# Cityscapes instance segmentation, Mask R-CNN R50-FPN, 24k iterations, batch 32, lr 0.01 (step at
# 18k), multi-scale training, Cityscapes val instance AP / AP50 (CLoVE Table 3) -- mmdet,
# detectron2's config "without changes" (FrozenBN, no norm in FPN / heads). Needs `pip install cityscapesscripts` (checked first).
#   tools/benchmarks/cityscapes_det.sh CKPT [GPUS] [--work-dir DIR] [--cfg-options ...]
# Data: data/cityscapes/{leftImg8bit,gtFine,annotations} (mmdet layout; docs/transfer_detection.md).
# Slurm: PARTITION=<p> tools/benchmarks/cityscapes_det.sh CKPT 8
source "$(dirname "$0")/_launch.sh"
[[ $# -ge 1 ]] || { sed -n 2,7p "$0" >&2; exit 2; }
if ! "$PYTHON" -c 'import cityscapesscripts' 2>/dev/null; then
  echo 'error: the Cityscapes metric needs cityscapesscripts: pip install cityscapesscripts' >&2
  exit 2
fi
if [[ -n ${CONFIG:-} ]]; then name=$(basename "$CONFIG" .py); else
  name=cityscapes_det
  CONFIG=$repo/configs/benchmarks/mmdetection/cityscapes/mask-rcnn_r50_fpn_4xb8-ms-24k_cityscapes.py
fi
run_benchmark "$name" "$CONFIG" "$@"
