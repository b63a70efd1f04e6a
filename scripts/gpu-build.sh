# Sourced by the GPU scripts (gpu-validate, gpu-precision, gpu-calib, gpu-followup, gpu-sanitize,
# gpu-typed-scales): `gpu_build [LOG]` configures and builds pykit (the kernels, and with
# $TENSORRT_ROOT pykit._trt and libpykit_plugins.so) with plain CMake into build/gpu, no pip and no
# network; all its output into LOG where given, else CMake's lines about pykit and its errors, then
# the build's. Returns non-zero when the build fails.
gpu_build() {
  local log=${1:-} py=${PYTHON:-python3}
  # shellcheck disable=SC2206  # no TensorRT (gpu-sanitize): the option is left out
  local args=(-S . -B build/gpu -G Ninja -DCMAKE_BUILD_TYPE=Release ${TENSORRT_ROOT:+"-DTENSORRT_ROOT=$TENSORRT_ROOT"}
              -DCMAKE_CUDA_ARCHITECTURES="${CUDA_ARCHS:-90}" -DPython_EXECUTABLE="$(command -v "$py")"
              -Dpybind11_DIR="$("$py" -m pybind11 --cmakedir)")
  if [ -n "$log" ]; then
    cmake "${args[@]}" > "$log" 2>&1 && cmake --build build/gpu -j "$(nproc)" >> "$log" 2>&1
  else
    { cmake "${args[@]}" | grep -E "pykit|Error" || true; } && cmake --build build/gpu -j "$(nproc)"
  fi
}
