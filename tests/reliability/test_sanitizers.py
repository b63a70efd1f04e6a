"""An ASan/UBSan build of pykit._host runs the adversarial suite and the defect tests: any
out-of-bounds access, use after free or undefined behaviour (a NaN cast to int8, signed overflow)
aborts the run with the sanitizer's report. Builds the top-level CMake project (host module only,
no CUDA) into a temporary folder with -fsanitize=address,undefined; installs nothing: without a
compiler that has the sanitizers (g++ with libasan, or clang) it skips with the reason.
Takes a few minutes (the build); CI runs it."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SUITE = ["tests/reliability/test_adversarial.py", "tests/reliability/test_defects.py"]
FLAGS = "-fsanitize=address,undefined -fsanitize=float-cast-overflow -fno-sanitize-recover=all -fno-omit-frame-pointer -g -O1"


def sanitizer_toolchain():
    """(g++, what LD_PRELOAD needs) or (None, reason). Python does not link libstdc++, so the
    preload names it after libasan: else ASan's __cxa_throw interceptor finds no real __cxa_throw
    and the first C++ exception aborts ("CHECK failed: ... real___cxa_throw")."""
    path = shutil.which("g++")
    if not path:
        return None, "no g++ on this machine (the ASan/UBSan build uses g++ and its libasan)"
    libs = [subprocess.run([path, f"-print-file-name={n}"], capture_output=True, text=True).stdout.strip()
            for n in ("libasan.so", "libstdc++.so")]
    if not all(os.path.isabs(lib) and os.path.exists(lib) for lib in libs):
        return None, "g++ has no libasan.so here (Debian/Ubuntu: it comes with g++; apt-get install g++)"
    return path, ":".join(libs)


@pytest.fixture(scope="module")
def asan_build(tmp_path_factory):
    cxx, lib = sanitizer_toolchain()
    if cxx is None:
        pytest.skip(lib)
    if not shutil.which("cmake"):
        pytest.skip("no cmake")
    import pybind11

    build = tmp_path_factory.mktemp("asan-host")
    configure = ["cmake", "-S", str(ROOT), "-B", str(build), "-DPYKIT_CUDA=OFF", f"-DCMAKE_CXX_COMPILER={cxx}",
                 f"-DCMAKE_CXX_FLAGS={FLAGS}", "-DCMAKE_MODULE_LINKER_FLAGS=-fsanitize=address,undefined",
                 "-DCMAKE_SHARED_LINKER_FLAGS=-fsanitize=address,undefined", f"-DPython_EXECUTABLE={sys.executable}",
                 f"-Dpybind11_DIR={pybind11.get_cmake_dir()}", "-DTENSORRT_ROOT=/nonexistent"]
    env = {**os.environ, "TENSORRT_ROOT": ""}
    for cmd in (configure, ["cmake", "--build", str(build), "--target", "_host", "-j", "2"]):
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1200)
        assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    return build, lib


def test_adversarial_suite_under_asan_and_ubsan(asan_build):
    build, lib = asan_build
    env = {**os.environ, "PYKIT_BUILD_DIR": str(build), "LD_PRELOAD": lib,
           "ASAN_OPTIONS": "detect_leaks=0:abort_on_error=1", "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1",
           "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *SUITE], cwd=ROOT,
                          capture_output=True, text=True, env=env, timeout=1200)
    out = proc.stdout + proc.stderr
    assert "runtime error:" not in out and "AddressSanitizer" not in out, out[-6000:]
    assert proc.returncode == 0, out[-6000:]
    assert " passed" in out
