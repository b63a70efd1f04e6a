#!/usr/bin/env bash
# Validate every plugin in real TensorRT engines on a GPU machine, and write the report.
#
#   . /tmp/tensorrt/env.sh && bash scripts/gpu-validate.sh [OUT_DIR]      (default docs/validation)
#
# Builds with plain CMake (no pip, no network needed) against $TENSORRT_ROOT into build/gpu, then:
# doctor (library and creators), the host backend, `pykit validate --backend trt --plugin P --report
# OUT_DIR/plugins/P` per plugin (every case in one-plugin engines + lifecycle checks), and the demo's patched models as whole engines
# against their originals on onnxruntime (`--model/--against`, reports in OUT_DIR/model-*), and the
# corpus (scripts/gpu-corpus.py: OUT_DIR/corpus).
# On the project's lent H200, ../shared/gpu/README.md stages TensorRT 8.5.3 as /tmp/tensorrt.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT_DIR=${1:-docs/validation}
: "${TENSORRT_ROOT:?set TENSORRT_ROOT (on the project GPU machine: . /tmp/tensorrt/env.sh)}"
PY=${PYTHON:-python3}
export PYTHONUNBUFFERED=1

. scripts/gpu-build.sh
gpu_build

export PYKIT_BUILD_DIR=$PWD/build/gpu PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
"$PY" -m pykit.cli doctor
"$PY" -m pykit.cli validate --backend host --no-progress
status=0
for plugin in $("$PY" -c "from pykit import registry; print(' '.join(s.name for s in registry.discover()))"); do
  "$PY" -m pykit.cli validate --backend trt --plugin "$plugin" --no-progress --report "$OUT_DIR/plugins/$plugin" || status=1
done
DEMO=$(mktemp -d)
"$PY" -m pykit.cli demo --out "$DEMO" > "$DEMO/demo.log" || { cat "$DEMO/demo.log"; status=1; }
"$PY" -m pykit.cli validate --backend trt --model "$DEMO/pointpillars_seed003.patched.onnx" \
  --against "$DEMO/pointpillars_seed003.onnx" --report "$OUT_DIR/model-pointpillars" || status=1
"$PY" -m pykit.cli validate --backend trt --precision fp32,fp16 --model "$DEMO/scatter_elements_add.patched.onnx" \
  --against "$DEMO/scatter_elements_add.onnx" --report "$OUT_DIR/model-scatter-elements" || status=1
# the corpus (tests/corpus + the demo's export): parser vs table, native vs patched engines
"$PY" scripts/gpu-corpus.py "$OUT_DIR/corpus" || status=1
exit $status
