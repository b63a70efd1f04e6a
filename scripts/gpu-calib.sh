#!/usr/bin/env bash
# Item 5 and 6 of issue 13 on the GPU machine: TensorRT 8.5's entropy calibrator against pykit's
# candidate rules (scripts/calib-experiments.py), and the digits accuracy table (scripts/gpu-accuracy.py).
#
#   . /tmp/tensorrt/env.sh && bash scripts/gpu-calib.sh [OUT_DIR]         (default docs/calibration)
#
# Builds pykit._trt and the plugin library with plain CMake into build/gpu exactly as
# scripts/gpu-validate.sh does (reused when that already ran), then runs both scripts; each runs on
# its own (one failing does not stop the other) and writes JSON + markdown under OUT_DIR.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT_DIR=${1:-docs/calibration}
: "${TENSORRT_ROOT:?set TENSORRT_ROOT (on the project GPU machine: . /tmp/tensorrt/env.sh)}"
PY=${PYTHON:-python3}
export PYTHONUNBUFFERED=1
mkdir -p "$OUT_DIR"

cmake -S . -B build/gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DTENSORRT_ROOT="$TENSORRT_ROOT" \
  -DCMAKE_CUDA_ARCHITECTURES="${CUDA_ARCHS:-90}" -DPython_EXECUTABLE="$(command -v "$PY")" \
  -Dpybind11_DIR="$("$PY" -m pybind11 --cmakedir)" | grep -E "pykit|Error" || true
cmake --build build/gpu -j "$(nproc)" || exit 1

export PYKIT_BUILD_DIR=$PWD/build/gpu PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
status=0
timeout 150 "$PY" scripts/calib-experiments.py --out "$OUT_DIR" 2>&1 | tee "$OUT_DIR/calib-experiments.log" || status=1
timeout 90 "$PY" scripts/gpu-accuracy.py --out "$OUT_DIR" 2>&1 | tee "$OUT_DIR/accuracy.log" || status=1
exit $status
