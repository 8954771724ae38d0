#!/usr/bin/env bash
# Shared launcher of the tools/benchmarks/*.sh scripts (sourced, not run).
#   run_benchmark NAME CONFIG CKPT [GPUS] [--seeds N] [finetune.py args...]
# 1 GPU (or CPU): plain python; more: torchrun (gloo automatically without CUDA).
# --seeds N: N runs with seeds 0..N-1, each in its own work dir (<work dir>/seed<i>);
# tools/benchmarks/summarize.py reports their mean +- std.
# Slurm: set PARTITION (and GPUS_PER_NODE, CPUS_PER_TASK, SRUN_ARGS) to submit with srun.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
if [[ -z ${PYTHON:-} ]]; then
  if [[ -z ${VIRTUAL_ENV:-} && -x $repo/.venv/bin/python ]]; then PYTHON=$repo/.venv/bin/python; else PYTHON=python; fi
fi
export PYTHONPATH="$repo${PYTHONPATH:+:$PYTHONPATH}"

run_benchmark() {
  local name=$1 config=$2 ckpt=$3
  shift 3
  local gpus=1
  if [[ $# -gt 0 && $1 =~ ^[0-9]+$ ]]; then gpus=$1; shift; fi
  if [[ $ckpt != none && ! -f $ckpt ]]; then
    echo "error: checkpoint not found: $ckpt" >&2; exit 2
  fi
  local seeds=0 rest=()
  while [[ $# -gt 0 ]]; do
    if [[ $1 == --seeds ]]; then
      [[ ${2:-} =~ ^[1-9][0-9]*$ ]] || { echo "error: --seeds needs a positive count" >&2; exit 2; }
      seeds=$2; shift 2
    else
      rest+=("$1"); shift
    fi
  done
  if [[ $seeds -eq 0 ]]; then
    _run_once "$name" "$config" "$ckpt" "$gpus" ${rest[@]+"${rest[@]}"}
  else
    local seed
    for (( seed = 0; seed < seeds; seed++ )); do
      _run_once "$name" "$config" "$ckpt" "$gpus" ${rest[@]+"${rest[@]}"} --seed "$seed"
    done
  fi
}

_run_once() {
  local name=$1 config=$2 ckpt=$3 gpus=$4
  shift 4
  local args=("$repo/tools/benchmarks/finetune.py" "$config" "$ckpt" --benchmark "$name" "$@")
  if [[ -n ${PARTITION:-} ]]; then
    local gpn=${GPUS_PER_NODE:-$(( gpus < 8 ? gpus : 8 ))}
    srun -p "$PARTITION" --job-name="densepre-$name" --gres=gpu:"$gpn" --ntasks="$gpus" \
      --ntasks-per-node="$gpn" --cpus-per-task="${CPUS_PER_TASK:-5}" --kill-on-bad-exit=1 \
      ${SRUN_ARGS:-} "$PYTHON" -u "${args[@]}" --launcher slurm
  elif [[ $gpus -gt 1 ]]; then
    OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} "$PYTHON" -m torch.distributed.run \
      --nproc_per_node="$gpus" --master_port="${PORT:-29510}" "${args[@]}" --launcher pytorch
  else
    "$PYTHON" "${args[@]}"
  fi
}
