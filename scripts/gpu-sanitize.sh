#!/usr/bin/env bash
# compute-sanitizer (memcheck without leak check: the launchers allocate nothing and torch's caching
# allocator keeps its pool until exit; racecheck, initcheck, synccheck) over every plugin x precision x
# validation case, through the plugins' CUDA launchers (pykit._kernels: the kernels TensorRT
# enqueues, without TensorRT's own kernels in the report), each case also checked against its
# reference. Writes OUT_DIR/<tool>.txt (the sanitizer's full output) and OUT_DIR/README.md (the
# command, the GPU, per-tool cases and error summary). Exits 1 on any finding or failed case.
#
#   . /tmp/tensorrt/env.sh && bash scripts/gpu-sanitize.sh [OUT_DIR]     (default docs/validation/sanitizer)
#   TRT=1 bash scripts/gpu-sanitize.sh    also memcheck over `pykit validate --backend trt` (one-plugin
#                                         engines; slower: TensorRT's builder runs under the sanitizer)
#
# Needs nvcc, torch with CUDA (pykit bench's dependency: device memory and the stream) and
# compute-sanitizer (CUDA toolkit; COMPUTE_SANITIZER= overrides). Builds with plain CMake into
# build/gpu like scripts/gpu-validate.sh (TensorRT is only needed for TRT=1). Takes ~3-6 minutes
# on the H200 (the 4 tools x ~170 launcher cases; racecheck is the slowest).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT_DIR=${1:-docs/validation/sanitizer}
PY=${PYTHON:-python3}
SAN=${COMPUTE_SANITIZER:-$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)}
export PYTHONUNBUFFERED=1
[ -x "$SAN" ] || { echo "gpu-sanitize: no compute-sanitizer (set COMPUTE_SANITIZER=/path)"; exit 2; }

. scripts/gpu-build.sh
gpu_build
export PYKIT_BUILD_DIR=$PWD/build/gpu PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
mkdir -p "$OUT_DIR"

# Every plugin x precision x case of the specs (seed 0) through the launchers; exit 1 on a failed case.
DRIVER=$(mktemp --suffix=.py)
cat > "$DRIVER" <<'PYEOF'
import sys
from pykit import registry
from pykit.bench import run as bench
torch, kernels = bench.require_torch(), bench.require_kernels()
torch.cuda.init()
stream = torch.cuda.current_stream().cuda_stream
plugins = [s.name for s in registry.discover()]
rows = bench.validate_launchers(torch, kernels, stream, plugins, ["fp32", "fp16", "int8"], print)
torch.cuda.synchronize()
cases = sum(r["cases"] for r in rows)
passed = sum(r["passed"] for r in rows)
print(f"CASES {passed}/{cases} passed over {len(rows)} plugin x precision pairs")
sys.exit(0 if passed == cases else 1)
PYEOF

status=0
summary=()
for tool in memcheck racecheck initcheck synccheck; do
  start=$(date +%s)
  set +e
  "$SAN" --tool "$tool" --error-exitcode 99 --print-limit 50 "$PY" "$DRIVER" > "$OUT_DIR/$tool.txt" 2>&1
  rc=$?
  set -e
  secs=$(( $(date +%s) - start ))
  line=$(grep -E "ERROR SUMMARY|RACECHECK SUMMARY" "$OUT_DIR/$tool.txt" | tail -1 || true)
  cases=$(grep -E "^CASES" "$OUT_DIR/$tool.txt" | tail -1 || true)
  echo "$tool: rc=$rc ${secs}s ${line:-no summary} ${cases}"
  summary+=("| $tool | $rc | ${secs} | ${line:-no summary line} | ${cases#CASES } |")
  [ "$rc" = 0 ] || status=1
done

if [ "${TRT:-0}" = 1 ]; then
  start=$(date +%s)
  set +e
  "$SAN" --tool memcheck --error-exitcode 99 --print-limit 50 "$PY" -m pykit.cli validate --backend trt --no-lifecycle \
    --no-progress > "$OUT_DIR/memcheck-trt.txt" 2>&1
  rc=$?
  set -e
  line=$(grep -E "ERROR SUMMARY" "$OUT_DIR/memcheck-trt.txt" | tail -1 || true)
  summary+=("| memcheck (TensorRT engines) | $rc | $(( $(date +%s) - start )) | ${line:-no summary line} | $(tail -1 "$OUT_DIR/memcheck-trt.txt") |")
  [ "$rc" = 0 ] || status=1
fi
rm -f "$DRIVER"

{
  echo "# compute-sanitizer over every plugin x precision x validation case"
  echo
  echo "Made by \`bash scripts/gpu-sanitize.sh\`${TRT:+ (TRT=$TRT)} at commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown), $(date -u +%Y-%m-%dT%H:%MZ)."
  echo "GPU: $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null | head -1 || echo unknown);"
  echo "sanitizer: $("$SAN" --version 2>/dev/null | tail -1)."
  echo
  echo "Each tool runs the launcher validation (pykit.bench.run.validate_launchers: every case of every"
  echo "spec at every precision through the CUDA launcher that the TensorRT glue calls, checked against the"
  echo "reference). rc 0 = no finding and every case passed; the full outputs are the .txt files here."
  echo
  echo "| tool | rc | seconds | summary | cases passed |"
  echo "|---|---|---|---|---|"
  printf '%s\n' "${summary[@]}"
} > "$OUT_DIR/README.md"
cat "$OUT_DIR/README.md"
exit $status
