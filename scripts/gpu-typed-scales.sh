#!/usr/bin/env bash
# Which int8 scales TensorRT hands a plugin (PluginTensorDesc::scale, recorded by the plugin library in
# configurePlugin and at enqueue: pykit_scale_record), in the typed mode's explicitly quantized
# Q -> plugin -> DQ form and, as the control, in today's mode (setDynamicRange). One case per plugin
# (about a minute on the H200 once build/gpu is built):
#
#   . /tmp/tensorrt/env.sh && bash scripts/gpu-typed-scales.sh [OUT_DIR]     (default /tmp/typed-scales)
#
# OUT_DIR/typed.md: the typed rows (WRONG SCALES when the plugin saw other scales than the Q/DQ
# layers', each row's "scales:" line says what it saw where); OUT_DIR/control.txt: today's mode.
# Builds like scripts/gpu-validate.sh (plain CMake into build/gpu; incremental when it exists).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-/tmp/typed-scales}
: "${TENSORRT_ROOT:?set TENSORRT_ROOT (on the project GPU machine: . /tmp/tensorrt/env.sh)}"
PY=${PYTHON:-python3}
PLUGINS=${PLUGINS:-LayerNorm GridSampler PillarScatter}
export PYTHONUNBUFFERED=1
mkdir -p "$OUT"

. scripts/gpu-build.sh
gpu_build || exit 1
export PYKIT_BUILD_DIR=$PWD/build/gpu PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}

args=()
for p in $PLUGINS; do args+=(--plugin "$p"); done
"$PY" -m pykit.cli validate --backend trt --typed "${args[@]}" --precision int8 --max-cases 1 --no-progress \
  --report "$OUT" > "$OUT/typed.log" 2>&1
echo "typed: exit $? (1 = a FAIL row; see $OUT/typed.md)"

PLUGINS="$PLUGINS" "$PY" - > "$OUT/control.txt" 2>&1 <<'EOF'
import os

import numpy as np

from pykit import registry
from pykit.backends.trt import TensorRTBackend
from pykit.validate_typed import scales_handed

for name in os.environ["PLUGINS"].split():
    spec = registry.get(name)
    case = next(iter(registry.entry_point(spec, "cases")(np.random.default_rng(0))))
    try:
        result, seen = scales_handed(spec, TensorRTBackend(), "int8", case, registry.entry_point(spec, "reference"))
        print(f"{name} int8 today's mode, case {case.name}: {'PASS' if result.passed else 'FAIL'} "
              f"(ran {result.actual_precision}, max abs err {result.max_abs_err:.3g}); scales seen: {seen}")
    except Exception as exc:  # noqa: BLE001 - the control's failure is reported, not fatal
        print(f"{name} int8 today's mode, case {case.name}: {type(exc).__name__}: {exc}")
EOF
cat "$OUT/control.txt"
grep -E "^\| [A-Za-z]+ \| int8|scales:" "$OUT/typed.md"
