#!/usr/bin/env bash
# Item 5 and 6 of issue 13 on the GPU machine: TensorRT 8.5's entropy calibrator against pykit's
# candidate rules (scripts/calib-experiments.py), and the digits accuracy table (scripts/gpu-accuracy.py).
#
#   . /tmp/tensorrt/env.sh && bash scripts/gpu-calib.sh [OUT_DIR] [all|demo]     (default docs/calibration all)
#
# all:  builds pykit._trt and the plugin library with plain CMake into build/gpu exactly as
#       scripts/gpu-validate.sh does (reused when that already ran), then runs both scripts; each runs
#       on its own (one failing does not stop the other) and writes JSON + markdown under OUT_DIR.
# demo: only the PointPillars-like demo's tensors (one engine build with TensorRT's calibrator, ~1 min
#       after the build), into OUT_DIR/demo/calib-experiments.{json,md,log}; merge on the CPU with
#       python scripts/calib-experiments.py --analyze OUT_DIR/calib-experiments.json \
#           OUT_DIR/demo/calib-experiments.json --out /tmp/calib-cpu
#
# Patching the demo and the CPU fake-quant row need onnx_graphsurgeon: on the project's H200 it is in
# $TENSORRT_ROOT/python (staged with .trt/wheels, put on PYTHONPATH by env.sh); this script adds that
# folder itself and stops at once, saying so, when the module still cannot be imported.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT_DIR=${1:-docs/calibration}
STEP=${2:-all}
case $STEP in all|demo) ;; *) echo "error: step must be 'all' or 'demo', got '$STEP'" >&2; exit 2 ;; esac
: "${TENSORRT_ROOT:?set TENSORRT_ROOT (on the project GPU machine: . /tmp/tensorrt/env.sh)}"
PY=${PYTHON:-python3}
export PYTHONUNBUFFERED=1

export PYKIT_BUILD_DIR=$PWD/build/gpu PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
if [[ -d $TENSORRT_ROOT/python && :$PYTHONPATH: != *:$TENSORRT_ROOT/python:* ]]; then
  PYTHONPATH=$PYTHONPATH:$TENSORRT_ROOT/python
fi
if ! why=$("$PY" -c "import onnx_graphsurgeon" 2>&1); then
  echo "error: $PY cannot import onnx_graphsurgeon (${why##*$'\n'}; PYTHONPATH=$PYTHONPATH): stage it with" \
       "the TensorRT finish call (.trt/wheels, ../shared/gpu/README.md) or put it on PYTHONPATH" >&2
  exit 2
fi

. scripts/gpu-build.sh
gpu_build || exit 1

if [[ $STEP == demo ]]; then
  mkdir -p "$OUT_DIR/demo" && rm -f "$OUT_DIR/demo/calib-experiments.json"
  timeout 300 "$PY" scripts/calib-experiments.py --out "$OUT_DIR/demo" --scenarios --no-digits 2>&1 \
    | tee "$OUT_DIR/demo/calib-experiments.log"
  # the section's own status: the script records a failing section in the JSON and still exits 0
  exec "$PY" -c "import json, sys; e = json.load(open(sys.argv[1]))['sections']['demo_pointpillars']; \
print(e.get('error', 'demo_pointpillars: ok')); sys.exit('error' in e)" "$OUT_DIR/demo/calib-experiments.json"
fi

mkdir -p "$OUT_DIR"
status=0
timeout 300 "$PY" scripts/calib-experiments.py --out "$OUT_DIR" 2>&1 | tee "$OUT_DIR/calib-experiments.log" || status=1
timeout 90 "$PY" scripts/gpu-accuracy.py --out "$OUT_DIR" 2>&1 | tee "$OUT_DIR/accuracy.log" || status=1
exit $status
