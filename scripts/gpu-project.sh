#!/usr/bin/env bash
# A plugin project outside pykit, on a GPU machine with TensorRT: `pykit init`, `pykit new`, the
# project built with its own plugin library, then `pykit validate --backend trt` runs the project's
# plugin and pykit's own in ONE process (two plugin libraries loaded, each diagnosed by doctor).
#
#   . /tmp/tensorrt/env.sh && bash scripts/gpu-validate.sh && bash scripts/gpu-project.sh [OUT_DIR]
#
# Uses pykit's build from scripts/gpu-validate.sh (build/gpu: pykit._host, pykit._trt and
# libpykit_plugins.so) through PYTHONPATH/PYKIT_BUILD_DIR; the project is installed with
# `pip install --no-build-isolation --no-deps -e .` (the GPU machine has no network).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT_DIR=${1:-docs/validation/project}
: "${TENSORRT_ROOT:?set TENSORRT_ROOT (on the project GPU machine: . /tmp/tensorrt/env.sh)}"
PY=${PYTHON:-python3}
KIT=$PWD
export PYTHONUNBUFFERED=1 PYKIT_BUILD_DIR=$KIT/build/gpu PYTHONPATH=$KIT${PYTHONPATH:+:$PYTHONPATH}
[ -f "$PYKIT_BUILD_DIR/libpykit_plugins.so" ] || { echo "run scripts/gpu-validate.sh first (no $PYKIT_BUILD_DIR)"; exit 2; }
mkdir -p "$OUT_DIR"
OUT_DIR=$(cd "$OUT_DIR" && pwd)

WORK=$(mktemp -d)
cd "$WORK"
"$PY" -m pykit init gpuproject
cd gpuproject
"$PY" -m pykit new MyOp --input x:float --output y --attr alpha:float=0.5 --precisions fp32,fp16,int8
# leave the environment as found: the project's entry point would show MyOp to later runs
trap '"$PY" -m pip uninstall -y -q gpuproject >/dev/null 2>&1 || true' EXIT
CMAKE_ARGS="-DCMAKE_CUDA_ARCHITECTURES=${CUDA_ARCHS:-90} -Dpykit_DIR=$("$PY" -m pykit --cmake-dir)" \
  "$PY" -m pip install -q --no-build-isolation --no-deps -e . 2>&1 | tail -5
status=0
: > "$OUT_DIR/log.txt"
log() { "$@" 2>&1 | tee -a "$OUT_DIR/log.txt"; }   # pipefail: the command's status
log "$PY" -m pykit doctor || status=1
log "$PY" -m pytest -q -p no:cacheprovider || status=1
# the project's plugin in TensorRT engines, with pykit's library loaded in the same process
log "$PY" -m pykit validate --backend trt --plugin MyOp --no-progress --report "$OUT_DIR/myop" || status=1
# every plugin of both projects in one process: two plugin libraries
log "$PY" -m pykit validate --backend trt --precision fp32 --no-progress || status=1
exit $status
