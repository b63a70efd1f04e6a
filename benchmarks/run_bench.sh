#!/usr/bin/env bash
# Build the CUDA launchers' Python module (pykit._kernels) with plain CMake and run `pykit bench`:
#
#   bash benchmarks/run_bench.sh [OUT_DIR] [pykit bench options...]      (default docs/benchmarks)
#
# Needs nvcc, a CUDA GPU, Python with torch, numpy, pybind11, cmake and ninja (matplotlib for the
# plot); no network, no pip install. TensorRT engine latencies are added when TENSORRT_ROOT is set
# (pykit._trt and libpykit_plugins.so are then built too); without it they are skipped with the reason.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT_DIR=${1:-docs/benchmarks}
shift || true
PY=${PYTHON:-python3}
BUILD=${BUILD_DIR:-build/bench}
export PYTHONUNBUFFERED=1

cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES="${CUDA_ARCHS:-90}" \
  ${TENSORRT_ROOT:+-DTENSORRT_ROOT="$TENSORRT_ROOT"} -DPython_EXECUTABLE="$(command -v "$PY")" \
  -Dpybind11_DIR="$("$PY" -m pybind11 --cmakedir)" | grep -E "pykit|Error" || true
cmake --build "$BUILD" -j "$(nproc)"

export PYKIT_BENCH_COMMAND="bash benchmarks/run_bench.sh $OUT_DIR${*:+ $*}"
export PYKIT_BUILD_DIR=$PWD/$BUILD PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
"$PY" -m pykit.cli bench --out "$OUT_DIR" "$@"
