#!/usr/bin/env bash
# LVIS v1 object detection + instance segmentation, Mask R-CNN R50-FPN, detectron2's "1x" (180k
# iterations, batch 16, steps 120k / 160k, repeat-factor sampling 1e-3), multi-scale training,
# lvis_v1_val bbox / segm AP (CLoVE Table 4) -- mmdet, detectron2's config "with no BN" (FrozenBN).
# Needs `pip install lvis` (checked first).
#   tools/benchmarks/lvis_det.sh CKPT [GPUS] [--work-dir DIR] [--cfg-options ...]
# Data: data/lvis_v1/{train2017,val2017,annotations/lvis_v1_{train,val}.json}
#   (docs/transfer_detection.md).
# Slurm: PARTITION=<p> tools/benchmarks/lvis_det.sh CKPT 8
source "$(dirname "$0")/_launch.sh"
[[ $# -ge 1 ]] || { sed -n 2,9p "$0" >&2; exit 2; }
if ! "$PYTHON" -c 'import lvis' 2>/dev/null; then
  echo 'error: the LVIS dataset and metric need the LVIS API: pip install lvis' >&2
  exit 2
fi
if [[ -n ${CONFIG:-} ]]; then name=$(basename "$CONFIG" .py); else
  name=lvis_det
  CONFIG=$repo/configs/benchmarks/mmdetection/lvis/mask-rcnn_r50_fpn_4xb4-sample1e-3-ms-180k_lvis-v1.py
fi
run_benchmark "$name" "$CONFIG" "$@"
