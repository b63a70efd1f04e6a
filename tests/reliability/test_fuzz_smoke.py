"""Fuzz smoke: builds the libFuzzer targets (tests/reliability/fuzz, ASan + UBSan) and runs each
plugin's for a bounded number of inputs from the committed seed corpus. A crash, a sanitizer
report, an exception other than pykit::Error or a serialization that is not a fixed point fails
it. Needs clang with libFuzzer; skips with the reason otherwise (installs nothing). The long run:
docs/reliability.md."""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pykit import registry

HERE = Path(__file__).parent / "fuzz"
RUNS = 30000


def libfuzzer_reason(tmp: Path):
    clang = shutil.which("clang++")
    if not clang:
        return "no clang++ (libFuzzer needs clang: apt-get install clang)"
    src = tmp / "probe.cpp"
    src.write_text('extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }\n')
    proc = subprocess.run([clang, "-fsanitize=fuzzer", str(src), "-o", str(tmp / "probe")], capture_output=True, text=True)
    return None if proc.returncode == 0 else f"clang++ has no libFuzzer: {proc.stderr.strip()[-300:]}"


@pytest.fixture(scope="module")
def fuzz_build(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fuzz")
    reason = libfuzzer_reason(tmp)
    if reason:
        pytest.skip(reason)
    if not shutil.which("cmake"):
        pytest.skip("no cmake")
    build = tmp / "build"
    for cmd in (["cmake", "-S", str(HERE), "-B", str(build), "-DCMAKE_CXX_COMPILER=clang++",
                 f"-DPython3_EXECUTABLE={sys.executable}"],
                ["cmake", "--build", str(build), "-j", "2"]):
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
        assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    return build


SPECS = registry.discover()


@pytest.mark.parametrize("spec", SPECS, ids=[s.snake for s in SPECS])
def test_fuzz_smoke(fuzz_build, spec, tmp_path):
    corpus = HERE / "corpus" / spec.snake
    assert corpus.is_dir() and any(corpus.iterdir()), f"no seed corpus for {spec.name}: run fuzz/make_corpus.py"
    # new inputs go to a scratch folder: the committed corpus is read only
    proc = subprocess.run([str(fuzz_build / f"fuzz_{spec.snake}"), f"-runs={RUNS}", "-seed=1",
                           str(tmp_path), str(corpus)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert f"Done {RUNS} runs" in proc.stderr, proc.stderr[-2000:]
