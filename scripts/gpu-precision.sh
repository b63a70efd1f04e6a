#!/usr/bin/env bash
# The TensorRT precision batch (issue #11 item 6, issue #13 items 3-4) on a GPU machine:
#
#   . /tmp/tensorrt/env.sh && bash scripts/gpu-precision.sh OUT_DIR
#
# Builds like scripts/gpu-validate.sh (plain CMake into build/gpu; incremental when it exists), then
# runs each experiment as its own step with its own time limit; a step that fails is recorded
# (OUT_DIR/steps.txt: name, exit code, seconds; OUT_DIR/<step>.log: its output with TensorRT's
# errors) and never stops the others:
#   typed               every plugin x precision asked the strongly typed way (pykit/validate_typed.py),
#                       next to today's mode ($TODAY_RESULTS, default docs/validation/plugins (one results.json per plugin),
#                       what gpu-validate.sh writes)                         -> OUT_DIR/typed/typed.md
#   model-*             the demo's patched models and a corpus nn.LayerNorm export as whole engines at
#                       fp32/fp16/int8 (both calibrations; mixed where a plugin has no int8), the
#                       native import of each original too (latency)      -> OUT_DIR/model-*/report.md
#   qdq-*               `pykit calibrate --qdq` models (Q -> plugin -> DQ; Q/DQ pairs; from TensorRT's
#                       own calibration cache) built as explicitly quantized engines -> OUT_DIR/qdq-*/
#   parse               pykit._trt.parse_onnx on models TensorRT 8.5 rejects or accepts -> OUT_DIR/parse.json
# Models and calibration data go to $WORK_DIR (default: a fresh temporary folder), reports to OUT_DIR.
# STEPS="inputs qdq-pointpillars ..." runs only the steps named (the build always).
# Exit 0 when every step ran to a report (a FAIL inside a report is a result), 1 if the build failed.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${1:?usage: bash scripts/gpu-precision.sh OUT_DIR}
: "${TENSORRT_ROOT:?set TENSORRT_ROOT (on the project GPU machine: . /tmp/tensorrt/env.sh)}"
PY=${PYTHON:-python3}
export PYTHONUNBUFFERED=1
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
W=${WORK_DIR:-$(mktemp -d)}  # models and calibration data: not part of the report
mkdir -p "$W"
: > "$OUT/steps.txt"

. scripts/gpu-build.sh
gpu_build "$OUT/build.log" || { tail -40 "$OUT/build.log"; echo "build failed" | tee -a "$OUT/steps.txt"; exit 1; }
export PYKIT_BUILD_DIR=$PWD/build/gpu PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
export PY OUT W
PYKIT=("$PY" -m pykit.cli)

step() {  # step NAME SECONDS command...: run, log, record; never abort the batch
  local name=$1 limit=$2 start=$SECONDS rc
  shift 2
  if [ -n "${STEPS:-}" ] && [[ " $STEPS " != *" $name "* ]]; then return 0; fi  # STEPS="a b": only those
  timeout "$limit" "$@" > "$OUT/$name.log" 2>&1
  rc=$?
  echo "$name rc=$rc $((SECONDS - start))s" | tee -a "$OUT/steps.txt"
}

# Inputs: the demo's models as `pykit demo` makes and patches them (its FORCE rules), seeded
# calibration batches (.npz, seeds 10000+ as validate_model's), the corpus LayerNorm patched.
LN=tests/corpus/layernorm_bert_opset17
step inputs 120 "$PY" - "$W" "$LN" <<'EOF'
import sys
from pathlib import Path

import numpy as np
import onnx

from pykit import registry
from pykit.surgeon.equiv import load_stored, random_inputs
from pykit.surgeon.model import load_model
from pykit.surgeon.patch import patch_model

work, ln = Path(sys.argv[1]), Path(sys.argv[2])
for spec in registry.discover():  # as pykit demo (pykit/surgeon/demo.py) walks them
    if not (spec.folder / "models.py").is_file():
        continue
    models = registry.load_module(spec, "models")
    for name, model in models.demos(0).items():
        onnx.save(model, work / f"{name}.onnx")
        patched = patch_model(model, trt="8.5", force=list(getattr(models, "FORCE", {}).get(name, []))).model
        onnx.save(patched, work / f"{name}.patched.onnx")
        (work / f"{name}_calib").mkdir(exist_ok=True)
        for i in range(16):
            np.savez(work / f"{name}_calib" / f"b{i:02d}.npz", **random_inputs(model, 10_000 + i))
        print("wrote", name)
original = load_model(ln / "model.onnx", check=False)
onnx.save(original, work / "layernorm.onnx")
onnx.save(patch_model(original, trt="8.5").model, work / "layernorm.patched.onnx")
feeds, _ = load_stored(original, ln / "data.npz")
(work / "layernorm_calib").mkdir(exist_ok=True)
np.savez(work / "layernorm_calib" / "b00.npz", **feeds)
print("wrote layernorm")
# a corpus PointPillars export (mmdet3d forward_batch, opset 11): TensorRT imports it natively, the
# rewrite is forced as `pykit patch --trt 8.5` does for speed; calibrated on its stored inputs
from pykit.surgeon import rules

pp = Path("tests/corpus/mmdet3d_pillar_scatter_batch_opset11")
original = load_model(pp / "model.onnx", check=False)
anchors = {op for r in rules.all_rules().values() if r.plugin == "PillarScatter" for op in r.ops}
force = sorted(anchors & {n.op_type for n in original.graph.node})
onnx.save(original, work / "mmdet3d_batch.onnx")
onnx.save(patch_model(original, trt="8.5", force=force).model, work / "mmdet3d_batch.patched.onnx")
feeds, _ = load_stored(original, pp / "data.npz")
(work / "mmdet3d_batch_calib").mkdir(exist_ok=True)
np.savez(work / "mmdet3d_batch_calib" / "b00.npz", **feeds)
print("wrote mmdet3d_batch")
EOF

# Strongly typed mode, next to today's mode's committed results (the lead's gpu-validate.sh output).
TODAY=${TODAY_RESULTS:-docs/validation/plugins}
step typed 200 "${PYKIT[@]}" validate --backend trt --typed --max-cases 3 --no-progress --report "$OUT/typed" \
  ${TODAY:+--compare "$TODAY"}

# Whole models at fp32/fp16/int8 (both calibrations), with the native import of each original.
step model-pointpillars 90 "${PYKIT[@]}" validate --backend trt --model "$W/pointpillars_seed003.patched.onnx" \
  --against "$W/pointpillars_seed003.onnx" --native --report "$OUT/model-pointpillars"
step model-scatter-elements 90 "${PYKIT[@]}" validate --backend trt --model "$W/scatter_elements_add.patched.onnx" \
  --against "$W/scatter_elements_add.onnx" --native --report "$OUT/model-scatter-elements"
step model-layernorm 90 "${PYKIT[@]}" validate --backend trt --model "$W/layernorm.patched.onnx" \
  --against "$W/layernorm.onnx" --data "$LN/data.npz" --native --report "$OUT/model-layernorm"

# Explicit quantization: Q/DQ models from `pykit calibrate --qdq`, built with no calibrator/ranges.
qdq() {  # qdq NAME MODEL ORIGINAL CALIB_OR_CACHE [calibrate options...] (QDQ_DATA: stored data to compare on)
  local name=$1 model=$2 original=$3 source=$4
  shift 4
  local from=(--data "$source" --cache "$W/$name.cache")
  case "$source" in *.cache) from=(--from-cache "$source") ;; esac
  "$PY" -m pykit.cli calibrate "$model" "${from[@]}" --qdq "$W/$name.onnx" --no-progress "$@" || return
  "$PY" -m pykit.cli validate --backend trt --model "$W/$name.onnx" --against "$original" --explicit \
    --report "$OUT/$name" ${QDQ_DATA:+--data "$QDQ_DATA"}
}
export -f qdq
QDQ=(bash -c 'qdq "$@"' qdq)  # timeout runs programs, not functions
step qdq-pointpillars 90 "${QDQ[@]}" qdq-pointpillars "$W/pointpillars_seed003.patched.onnx" "$W/pointpillars_seed003.onnx" \
  "$W/pointpillars_seed003_calib" --qdq-scope compute
step qdq-pointpillars-pairs 90 "${QDQ[@]}" qdq-pointpillars-pairs "$W/pointpillars_seed003.patched.onnx" \
  "$W/pointpillars_seed003.onnx" "$W/pointpillars_seed003_calib" --qdq-scope compute --qdq-plugins pairs
step qdq-pointpillars-float-weights 90 "${QDQ[@]}" qdq-pointpillars-float-weights \
  "$W/pointpillars_seed003.patched.onnx" "$W/pointpillars_seed003.onnx" "$W/pointpillars_seed003_calib" --qdq-scope compute \
  --qdq-weights none
# TensorRT's own calibration cache (from model-pointpillars' calibrator build, or $TRT_CACHE: e.g. the
# demo's from scripts/gpu-corpus.py's results) imported as Q/DQ
if [ -n "${TRT_CACHE:-}" ]; then cp "$TRT_CACHE" "$W/tensorrt.cache"; else
"$PY" -c "import json,sys; r=json.load(open(sys.argv[1])); open(sys.argv[2],'w').write(r.get('tensorrt_cache') or '')" \
  "$OUT/model-pointpillars/results.json" "$W/tensorrt.cache" 2>/dev/null
fi
step qdq-pointpillars-trt-cache 90 "${QDQ[@]}" qdq-pointpillars-trt-cache "$W/pointpillars_seed003.patched.onnx" \
  "$W/pointpillars_seed003.onnx" "$W/tensorrt.cache" --qdq-scope compute
QDQ_DATA=tests/corpus/mmdet3d_pillar_scatter_batch_opset11/data.npz step qdq-mmdet3d-batch 90 "${QDQ[@]}" \
  qdq-mmdet3d-batch "$W/mmdet3d_batch.patched.onnx" "$W/mmdet3d_batch.onnx" "$W/mmdet3d_batch_calib" --qdq-scope compute
QDQ_DATA="$LN/data.npz" step qdq-layernorm 90 "${QDQ[@]}" qdq-layernorm "$W/layernorm.patched.onnx" "$W/layernorm.onnx" \
  "$W/layernorm_calib" --qdq-scope compute

# The installed parser's verdicts (the binding `pykit inspect --parse` reads).
step parse 60 "$PY" - "$OUT/parse.json" "$W" <<'EOF'
import json
import sys
from pathlib import Path

from pykit.backends.trt import parse_onnx
from pykit.validate_model import parser_bytes
from pykit.surgeon.model import load_model

out, work = sys.argv[1], Path(sys.argv[2])
models = sorted(work.glob("*.onnx")) + sorted(Path("tests/corpus").glob("*/model.onnx"))[:40]
results = {}
for path in models:
    try:
        results[str(path)] = parse_onnx(parser_bytes(load_model(path, check=False)))
    except Exception as exc:  # noqa: BLE001 - one model's failure is its entry
        results[str(path)] = {"error": f"{type(exc).__name__}: {exc}"}
    r = results[str(path)]
    print(path, r.get("parsed"), [e["description"][:80] for e in r.get("errors", [])] or r.get("error", ""))
json.dump(results, open(out, "w"), indent=1)
EOF
cat "$OUT/steps.txt"
exit 0
