#!/usr/bin/env bash
# Segmenter linear decoder on a ViT-B/16 (LOCA's evaluation, appendix A.3): end-to-end fine-tuning,
# Segmenter's SGD with LOCA's wd 0.01, poly lr, sliding-window inference -- mmseg, mmpretrain ViT.
#   tools/benchmarks/ade20k_linear.sh CKPT [GPUS] [--dataset ade20k|pcontext|voc|cityscapes]
#       [--lr LR] [--optimizer sgd|adamw] [--seeds N] [--fraction 1/32|1/16|1/8|1/4|1/2|1 [--fold 0-4]] [--data-root DIR]
#       [--split-dir DIR] [--arch vit-b16|vit-s16] [--work-dir DIR] [--cfg-options ...]
# --dataset     ade20k (160k it, default), pcontext (80k), voc (VOC12aug, 80k), cityscapes (768^2, 80k)
# --lr          base lr; LOCA sweeps 8e-5 1e-4 3e-4 8e-4 (default 8e-4); the work dir gets _lr<LR>
# --optimizer   sgd (Segmenter's, default) or adamw (the documented option; name gets _adamw)
# --fraction    LOCA Table 2 few-shot ADE20k: train on that fraction of the training images, fold
#               --fold (default 0; seed = fold). The subset list is written (once, deterministically)
#               by tools/benchmarks/make_fewshot_split.py into --split-dir (default DATA_ROOT/fewshot).
# --arch        vit-b16 (default) or vit-s16 (mmpretrain arch='deit-small', 384-channel decoder;
#               the configs' _vit-s16_ variants; the work dir name gets _vit-s16)
# --data-root   dataset root (default: data/ade/ADEChallengeData2016, data/VOCdevkit/VOC2010,
#               data/VOCdevkit/VOC2012, data/cityscapes); sets every dataloader's data_root.
# CKPT: a pretraining checkpoint with an mmpretrain VisionTransformer under "backbone." (no class
# token; with one add --cfg-options model.backbone.with_cls_token=True). CONFIG=<config> overrides.
# Weights: the backbone the checkpoint's method reports -- LOCA: its EMA teacher (appendix A.1) --
# printed at start; --student (online backbone) / --teacher override. Every backbone tensor of
# CKPT must be used: --ignore-keys PATTERN (e.g. 'cls_token') drops one deliberately.
# Five folds x six fractions: for f in 1/32 1/16 1/8 1/4 1/2 1; do for k in 0 1 2 3 4; do
#   tools/benchmarks/ade20k_linear.sh CKPT 8 --fraction $f --fold $k; done; done
# Slurm: PARTITION=<p> tools/benchmarks/ade20k_linear.sh CKPT 8 --lr 3e-4
source "$(dirname "$0")/_launch.sh"
usage() { sed -n 2,24p "$0" >&2; exit 2; }
[[ $# -ge 1 ]] || usage
ckpt=$1; shift
if [[ $ckpt != none && ! -f $ckpt ]]; then echo "error: checkpoint not found: $ckpt" >&2; exit 2; fi
dataset=ade20k lr='' optimizer=sgd fraction='' fold='' data_root='' split_dir='' arch=vit-b16
rest=()
need() { [[ $2 -ge 2 ]] || { echo "error: $1 needs a value" >&2; exit 2; }; }
while [[ $# -gt 0 ]]; do
  case $1 in
    --dataset) need "$1" $#; dataset=$2; shift 2 ;;
    --lr) need "$1" $#; lr=$2; shift 2 ;;
    --optimizer) need "$1" $#; optimizer=$2; shift 2 ;;
    --fraction) need "$1" $#; fraction=$2; shift 2 ;;
    --fold) need "$1" $#; fold=$2; shift 2 ;;
    --data-root) need "$1" $#; data_root=$2; shift 2 ;;
    --split-dir) need "$1" $#; split_dir=$2; shift 2 ;;
    --arch) need "$1" $#; arch=$2; shift 2 ;;
    *) rest+=("$1"); shift ;;
  esac
done
seg=$repo/configs/benchmarks/mmsegmentation
case $dataset in
  ade20k) config=$seg/ade20k/segmenter-linear_vit-b16_8xb2-160k_ade20k-512x512.py
          default_root=data/ade/ADEChallengeData2016 name=ade20k_linear ;;
  pcontext) config=$seg/pascal_context/segmenter-linear_vit-b16_8xb2-80k_pascal-context-512x512.py
            default_root=data/VOCdevkit/VOC2010 name=pcontext_linear ;;
  voc) config=$seg/voc12aug/segmenter-linear_vit-b16_8xb2-80k_voc12aug-512x512.py
       default_root=data/VOCdevkit/VOC2012 name=voc_linear ;;
  cityscapes) config=$seg/cityscapes/segmenter-linear_vit-b16_8xb1-80k_cityscapes-768x768.py
              default_root=data/cityscapes name=cityscapes_linear ;;
  *) echo "error: --dataset must be ade20k, pcontext, voc or cityscapes, got '$dataset'" >&2; exit 2 ;;
esac
opts=()
if [[ -n $data_root ]]; then
  if [[ $dataset == voc ]]; then
    opts+=("train_dataloader.dataset.datasets.0.data_root=$data_root"
           "train_dataloader.dataset.datasets.1.data_root=$data_root")
  else
    opts+=("train_dataloader.dataset.data_root=$data_root")
  fi
  opts+=("val_dataloader.dataset.data_root=$data_root" "test_dataloader.dataset.data_root=$data_root")
fi
if [[ -n $lr ]]; then
  [[ $lr =~ ^[0-9.]+([eE][-+]?[0-9]+)?$ ]] || { echo "error: bad --lr '$lr'" >&2; exit 2; }
  opts+=("optim_wrapper.optimizer.lr=$lr")
fi
if [[ -n $fold && -z $fraction ]]; then echo "error: --fold needs --fraction" >&2; exit 2; fi
if [[ -n $fraction ]]; then
  [[ $dataset == ade20k ]] || { echo "error: --fraction is for --dataset ade20k (LOCA Table 2)" >&2; exit 2; }
  case $fraction in
    1/32|1/16|1/8|1/4|1/2|1) ;;
    *) echo "error: --fraction must be one of 1/32 1/16 1/8 1/4 1/2 1, got '$fraction'" >&2; exit 2 ;;
  esac
  fold=${fold:-0}
  [[ $fold =~ ^[0-9]+$ ]] || { echo "error: --fold must be a non-negative integer, got '$fold'" >&2; exit 2; }
  config=$seg/ade20k/segmenter-linear_vit-b16_8xb2-160k_ade20k-fewshot-512x512.py
  root=${data_root:-$default_root}
  split_dir=${split_dir:-$root/fewshot}
  tag=${fraction/\//-}
  split=$split_dir/ade20k_train_frac${tag}_fold${fold}.txt
  if [[ ! -f $split ]]; then
    "$PYTHON" "$repo/tools/benchmarks/make_fewshot_split.py" "$root" --fraction "$fraction" \
      --folds "$fold" --out-dir "$split_dir"
  fi
  split=$(cd "$(dirname "$split")" && pwd)/$(basename "$split")
  opts+=("train_dataloader.dataset.ann_file=$split" "randomness.seed=$fold")
  name=ade20k_fewshot_frac${tag}_fold${fold}
fi
case $optimizer in
  sgd) ;;
  adamw) config=${config%.py}_adamw.py name=${name}_adamw ;;
  *) echo "error: --optimizer must be sgd or adamw, got '$optimizer'" >&2; exit 2 ;;
esac
[[ -n $lr ]] && name=${name}_lr$lr
case $arch in
  vit-b16) ;;
  vit-s16) config=${config/_vit-b16_/_vit-s16_} name=${name}_vit-s16 ;;
  *) echo "error: --arch must be vit-b16 or vit-s16, got '$arch'" >&2; exit 2 ;;
esac
gpus=()
if [[ ${#rest[@]} -gt 0 && ${rest[0]} =~ ^[0-9]+$ ]]; then gpus=("${rest[0]}"); rest=("${rest[@]:1}"); fi
if [[ ${#opts[@]} -gt 0 ]]; then rest+=(--cfg-options "${opts[@]}"); fi
run_benchmark "$name" "${CONFIG:-$config}" "$ckpt" ${gpus[@]+"${gpus[@]}"} ${rest[@]+"${rest[@]}"}
