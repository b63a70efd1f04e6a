#!/usr/bin/env bash
# Kernel A/B in one call of a GPU machine: builds the current tree and each variant in parallel,
# then benches them one after another (same GPU, same run):
#   benchmarks/versions/<name>/*.cu   kernel files copied over a copy of the tree (older versions;
#                                      git-ignored, made from history with `bash benchmarks/ab.sh --checkout`
#                                      and sent along to the GPU machine)
#   VERSIONS="v0 v1"                  which of benchmarks/versions/ to build (default: all)
#   VARIANTS="name=-DFLAG -DFLAG2;..."  the current tree built with extra nvcc defines (the kernels
#                                      carry no A/B macros any more: the variants measured in
#                                      docs/benchmarks/history are in git, up to commit 199feed)
#   VARIANT_BENCH_ARGS="--plugin X"   pykit bench options for the variants (default: every plugin)
# OUT_DIR gets <name>.json per variant, the current tree's full report in OUT_DIR/current/, and
# OUT_DIR/ab.md: every case's median µs per variant side by side (benchmarks/ab_table.py).
#   bash benchmarks/ab.sh OUT_DIR [pykit bench options for the current tree...]
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1-}" = --checkout ]; then  # the kernel versions of docs/benchmarks/README.md, from git history
  for pair in v0=12bbf05:pillar_scatter v0=61776f4:scatter_elements_reduce v1=3019cc1:pillar_scatter \
              v1=3019cc1:scatter_elements_reduce v2=b77c9fa:pillar_scatter v3=7faeb6a:pillar_scatter; do
    v=${pair%%=*} rev=${pair#*=}; rev=${rev%%:*} name=${pair##*:}
    mkdir -p "benchmarks/versions/$v"
    git show "$rev:plugins/$name/${name}_kernel.cu" > "benchmarks/versions/$v/${name}_kernel.cu"
  done
  exit 0
fi
OUT_DIR=$1; shift
mkdir -p "$OUT_DIR"
PY=${PYTHON:-python3}
export PYTHONUNBUFFERED=1
ROOT=$PWD
CMAKE_ARGS=(-G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90 -DPython_EXECUTABLE="$(command -v "$PY")"
            -Dpybind11_DIR="$("$PY" -m pybind11 --cmakedir)")
build() {  # src build [extra cmake args]
  local src=$1 b=$2; shift 2
  cmake -S "$src" -B "$b" "${CMAKE_ARGS[@]}" "$@" >"$b.log" 2>&1 && cmake --build "$b" -j 6 >>"$b.log" 2>&1 \
    || { echo "build $b FAILED"; tail -30 "$b.log"; return 1; }
}
variants=()
for v in ${VERSIONS-$(ls benchmarks/versions)}; do
  variants+=("$v")
  mkdir -p "/tmp/ab-src-$v" && cp -r CMakeLists.txt pyproject.toml plugins pykit templates benchmarks "/tmp/ab-src-$v/"
  for f in benchmarks/versions/$v/*.cu; do
    cp "$f" "$(find "/tmp/ab-src-$v/plugins" -name "$(basename "$f")" | head -1)"
  done
  build "/tmp/ab-src-$v" "/tmp/ab-build-$v" &
done
declare -A flags=()
IFS=';' read -ra specs <<<"${VARIANTS:-}"
for spec in "${specs[@]}"; do
  [ -n "$spec" ] || continue
  name=${spec%%=*}; flags[$name]=${spec#*=}; variants+=("$name")
  build "$ROOT" "/tmp/ab-build-$name" "-DCMAKE_CUDA_FLAGS=${flags[$name]}" &
done
build "$ROOT" /tmp/ab-build-current &
wait
for v in "${variants[@]}"; do
  src=/tmp/ab-src-$v; [ -n "${flags[$v]+x}" ] && src=$ROOT
  # shellcheck disable=SC2086  # word splitting of the options is intended
  (cd "$src" && PYKIT_BUILD_DIR=/tmp/ab-build-$v PYTHONPATH=$src "$PY" -m pykit.cli bench --no-trt --no-validate \
     ${VARIANT_BENCH_ARGS:-} --out "/tmp/ab-out-$v" | tail -20) || echo "variant $v: bench exit $?"
  cp "/tmp/ab-out-$v/results.json" "$OUT_DIR/$v.json" || true
done
PYKIT_BENCH_COMMAND="bash benchmarks/run_bench.sh" PYKIT_BUILD_DIR=/tmp/ab-build-current PYTHONPATH=$ROOT \
  "$PY" -m pykit.cli bench --out "$OUT_DIR/current" "$@"
"$PY" benchmarks/ab_table.py "$OUT_DIR" | tee "$OUT_DIR/ab.md"
