#!/usr/bin/env bash
# The compile matrix: every plugin's TensorRT glue and the plugin library (plugins/common/trt/library.cpp)
# compiled against the headers of TensorRT 8.5.3, 10.16 and 11.1 (headers only: a compile check; no
# TensorRT library is linked or needed), then the CPU glue harness (tests/glue) against each.
#
#   bash scripts/compile-matrix.sh [TENSORRT_GIT_DIR]
#
# Headers come from a git snapshot of github:NVIDIA/TensorRT (the search tool's `fetch` puts one at
# /work/.mirror/NVIDIA+TensorRT/repo; tags 8.5.3, v10.16, v11.1) into the git-ignored .trt/include,
# .trt10/include and .trt11/include (an existing one is kept: ../shared/gpu's stage script fills
# .trt/ too). Nothing fetched is ever committed. Needs nvcc (CMake compiles the glue only with the
# CUDA toolkit), cmake, ninja and pybind11.
set -euo pipefail
cd "$(dirname "$0")/.."
GIT_DIR=${1:-/work/.mirror/NVIDIA+TensorRT/repo}
PY=${PYTHON:-python3}
declare -A TAGS=([.trt]=8.5.3 [.trt10]=v10.16 [.trt11]=v11.1)
status=0
rows=()
for dir in .trt .trt10 .trt11; do
  tag=${TAGS[$dir]}
  if [ ! -f "$dir/include/NvInferVersion.h" ]; then
    [ -d "$GIT_DIR" ] || { echo "no $dir/include and no TensorRT git snapshot at $GIT_DIR (fetch github:NVIDIA/TensorRT)"; exit 2; }
    mkdir -p "$dir"
    git -C "$GIT_DIR" archive "$tag" include | tar -x -C "$dir"
  fi
  build=build/matrix${dir#.trt}
  log=$(mktemp)
  if cmake -S . -B "$build" -G Ninja -DTENSORRT_ROOT="$PWD/$dir" -DCMAKE_CUDA_ARCHITECTURES=90 \
       -DPython_EXECUTABLE="$(command -v "$PY")" -Dpybind11_DIR="$("$PY" -m pybind11 --cmakedir)" > "$log" 2>&1 &&
     grep -q "compile check of the glue only" "$log" &&
     cmake --build "$build" --target pykit_plugins -j 2 >> "$log" 2>&1; then
    glue=$(find "$build" -path '*pykit_plugins.dir*' -name '*_plugin*.cpp.o' | wc -l)
    lib=$(find "$build" -path '*pykit_plugins.dir*' -name 'library.cpp.o' | wc -l)
    # the objects linked into a shared library (TensorRT's and the kernels' symbols left undefined, as
    # a shared library may): what loadLibrary / --dynamicPlugins find exported (nm -D)
    so=$build/libpykit_plugins_exports.so
    # shellcheck disable=SC2046  # one word per object file
    g++ -shared -o "$so" $(find "$build" -path '*pykit_plugins.dir*' -name '*.o') >> "$log" 2>&1 || true
    want=getCreators; [ "$tag" = 8.5.3 ] && want=getPluginCreators
    exports=$(nm -D --defined-only "$so" 2>/dev/null | awk '$3 ~ /^get(Plugin)?Creators$/ {print $3}' | sort | tr '\n' ' ')
    if [[ " $exports" == *" $want "* ]]; then
      rows+=("| $tag | PASS | $glue glue file(s), library.cpp: $lib | ${exports% } |")
    else
      rows+=("| $tag | FAIL | $glue glue file(s), library.cpp: $lib | no $want in nm -D (${exports:-none}) |")
      status=1
    fi
  else
    rows+=("| $tag | FAIL | $(grep -m1 -E 'error' "$log" || tail -1 "$log") | - |")
    status=1
  fi
  rm -f "$log"
done
"$PY" -m pytest -q -p no:cacheprovider tests/glue || status=1
echo
echo "| TensorRT headers | glue + library compile | objects | exported (nm -D) |"
echo "|---|---|---|---|"
printf '%s\n' "${rows[@]}"
exit $status
