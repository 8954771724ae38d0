#!/usr/bin/env bash
# One idempotent set-up entry point for densepre (used by `make demo`, `make test` and .ci/run).
#
# Builds a virtual environment with the pinned OpenMMLab stack (requirements/*.txt). mmcv is only
# published on PyPI as a source distribution; its compiled ops (RoIAlign, NMS, ... needed by mmdet)
# take ~17 min to build on 2 CPU cores, so the built wheel is kept OUTSIDE the clone, keyed by the
# mmcv, torch and Python versions, and reused by every later install on this machine.
#
# Environment:
#   DENSEPRE_VENV       where to create the venv (default: <repo>/.venv)
#   DENSEPRE_CACHE      wheel cache (default: ${XDG_CACHE_HOME:-~/.cache}/densepre)
#   PYTHON              interpreter used to create the venv (default: python3)
#   MMCV_CUDA=1         build mmcv's CUDA ops too (GPU machines; needs nvcc matching torch's CUDA)
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=${DENSEPRE_VENV:-$repo/.venv}
cache=${DENSEPRE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/densepre}
python=${PYTHON:-python3}
mmcv_version=2.1.0
log() { printf '[install %(%H:%M:%S)T] %s\n' -1 "$*"; }

req_files=("$repo"/requirements/{build,torch,runtime,tests,mim}.txt "$repo/setup.py" "$0")
stamp_want=$(cat "${req_files[@]}" | sha256sum | cut -c1-16)-cuda${MMCV_CUDA:-0}
stamp=$venv/.densepre-installed
if [[ -f $stamp && $(cat "$stamp") == "$stamp_want" ]]; then
  log "environment up to date: $venv"
  exit 0
fi

start=$SECONDS
if [[ ! -x $venv/bin/python ]]; then
  log "creating venv $venv with $($python --version 2>&1)"
  "$python" -m venv "$venv"
fi
pip=("$venv/bin/python" -m pip install --no-input --progress-bar off)

log "build tools + numpy (numpy<2: mmcv 2.1's ColorJitter overflows with numpy 2)"
"${pip[@]}" -r "$repo/requirements/build.txt" numpy==1.26.4
log "torch / torchvision"
"${pip[@]}" -r "$repo/requirements/torch.txt" -r "$repo/requirements/build.txt"

torch_version=$("$venv/bin/python" -c 'import torch; print(torch.__version__)')
py_tag=$("$venv/bin/python" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')
key="mmcv-${mmcv_version}_torch-${torch_version}_${py_tag}_cuda${MMCV_CUDA:-0}"
wheel_dir=$cache/wheels/$key
if ! ls "$wheel_dir"/mmcv-*.whl >/dev/null 2>&1; then
  log "no cached mmcv wheel for $key: building mmcv $mmcv_version with ops (~17 min on 2 cores)"
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  # pip download runs mmcv's setup.py, which imports torch: no build isolation.
  "$venv/bin/python" -m pip download --no-deps --no-binary :all: --no-build-isolation \
    -d "$work" "mmcv==$mmcv_version"
  tar -xzf "$work/mmcv-$mmcv_version.tar.gz" -C "$work"
  src=$work/mmcv-$mmcv_version
  # torch >= 2.14 headers require C++20; mmcv 2.1.0 hard-codes -std=c++17 (harmless for older torch).
  sed -i 's/-std=c++17/-std=c++20/g; s/-std=c++14/-std=c++20/g' "$src/setup.py"
  build_start=$SECONDS
  MMCV_WITH_OPS=1 FORCE_CUDA=${MMCV_CUDA:-0} MAX_JOBS=${MAX_JOBS:-$(nproc)} \
    "$venv/bin/python" -m pip wheel --no-deps --no-build-isolation -w "$work/dist" "$src"
  mkdir -p "$cache/wheels"
  # Publish atomically: a killed build never leaves a half-written wheel in the cache.
  mkdir -p "$work/publish/$key" && cp "$work"/dist/mmcv-*.whl "$work/publish/$key/"
  rm -rf "$wheel_dir" && mv "$work/publish/$key" "$wheel_dir"
  log "mmcv built in $(( (SECONDS - build_start) / 60 )) min -> $wheel_dir"
else
  log "reusing cached mmcv wheel $wheel_dir"
fi
log "mmcv + OpenMMLab stack + test tools"
"${pip[@]}" "$wheel_dir"/mmcv-*.whl -r "$repo/requirements/runtime.txt" \
  -r "$repo/requirements/tests.txt" -r "$repo/requirements/build.txt"
log "openmim (without its opendatalab download client, which pins old setuptools/requests)"
"${pip[@]}" --no-deps "openmim==0.3.9"
"${pip[@]}" -r "$repo/requirements/mim.txt" numpy==1.26.4
log "densepre (editable)"
# compat mode: a path entry instead of an import hook, so that the `densepre/.mim` link below
# (for `mim search/train/test densepre`: mim looks beside the dist-info) never shadows the package.
"${pip[@]}" --no-deps --no-build-isolation --use-pep517 --config-settings editable_mode=compat -e "$repo"
site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
mkdir -p "$site/densepre" && ln -sfn "$repo/densepre/.mim" "$site/densepre/.mim"

"$venv/bin/python" - <<'EOF'
import mmcv, mmdet, mmengine, mmpretrain, mmseg, torch, torchvision
from mmcv.ops import RoIAlign, nms  # noqa: F401  compiled ops must be present
print('stack OK: torch', torch.__version__, 'torchvision', torchvision.__version__, 'mmcv', mmcv.__version__,
      'mmengine', mmengine.__version__, 'mmpretrain', mmpretrain.__version__, 'mmseg', mmseg.__version__,
      'mmdet', mmdet.__version__)
EOF
echo "$stamp_want" > "$stamp"
log "install finished in $(( SECONDS - start )) s"
