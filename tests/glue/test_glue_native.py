"""Every plugin's TensorRT glue (IPluginV2DynamicExt) on the CPU, against TensorRT's headers alone:
counts, formats row by row from the compiled spec, output types, shapes that fail as nbDims = -1
instead of a scalar, wrong counts reported (not read past), namespace, clone, (de)serialization
and truncated buffers. (The V2 base before the compiled spec read types[0] and in[1] of empty
input lists here and crashed with SIGSEGV: issue #14, item 5.) glue_harness.h holds the checks; this file generates the main() that runs
them on each plugin with its first case's attributes and asserts that none failed.

Needs the TensorRT headers (staged in .trt/include, .trt10/include and .trt11/include by
scripts/compile-matrix.sh, or PYKIT_TRT8_INCLUDE / PYKIT_TRT10_INCLUDE / PYKIT_TRT11_INCLUDE), the CUDA headers and a C++17 compiler; skips with the reason otherwise.
No libnvinfer, no CUDA runtime: the kernels' launchers and cudaGetErrorString are only called from
enqueue, which needs a GPU, so they are linked to stubs that trap if ever reached.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from pykit import codegen, registry

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
CUDA_INCLUDE = Path(os.environ.get("CUDA_HOME", "/usr/local/cuda")) / "include"


def _headers(major: int) -> Path:
    env = {8: "PYKIT_TRT8_INCLUDE", 10: "PYKIT_TRT10_INCLUDE", 11: "PYKIT_TRT11_INCLUDE"}[major]
    include = Path(os.environ.get(env) or REPO / (".trt" if major == 8 else f".trt{major}") / "include")
    if not (include / "NvInferVersion.h").is_file():
        pytest.skip(f"no TensorRT {major} headers at {include} (stage them there or set {env}): "
                    "the glue was NOT checked on the CPU")
    if not (CUDA_INCLUDE / "cuda_runtime_api.h").is_file():
        pytest.skip(f"no CUDA headers at {CUDA_INCLUDE}: the glue includes cuda_runtime_api.h")
    if shutil.which("g++") is None:
        pytest.skip("no g++")
    return include


def _fields(spec, attrs: dict) -> str:
    """C++ that builds the creator's PluginField list for `attrs` (storage kept alive in statics)."""
    lines = []
    for k, a in enumerate(spec.attributes):
        value = attrs[a.name]
        store = f"v{k}"
        if a.type == "string":
            lines.append(f'    static const std::string {store} = "{value}";')
            lines.append(f'    f.emplace_back("{a.name}", {store}.c_str(), nvinfer1::PluginFieldType::kCHAR, '
                         f"int32_t({store}.size()));")
            continue
        items = value if a.is_array else [value]
        ctype, ftype = ("int32_t", "kINT32") if a.scalar_type == "int32" else ("float", "kFLOAT32")
        literal = ", ".join(str(int(v)) if ctype == "int32_t" else repr(float(v)) + "f" for v in items)
        lines.append(f"    static const std::vector<{ctype}> {store} = {{{literal}}};")
        lines.append(f'    f.emplace_back("{a.name}", {store}.data(), nvinfer1::PluginFieldType::{ftype}, '
                     f"int32_t({store}.size()));")
    return "\n".join(lines)


def _main(specs, generated: Path) -> str:
    includes, calls = [], []
    for spec in specs:
        glue = sorted(spec.folder.glob("*_plugin.cpp"))
        if not glue:
            continue
        (generated / f"{spec.snake}_attrs.h").write_text(codegen.render(spec))
        case = next(iter(registry.entry_point(spec, "cases")(np.random.default_rng(0))))
        attrs = spec.resolve_attributes(case.attrs)
        includes.append(f'#include "{glue[0]}"')
        calls.append(
            "    {\n        std::vector<nvinfer1::PluginField> f;\n" + _fields(spec, attrs).replace("\n", "\n    ")
            + f"\n        harness::check_plugin<pykit::{spec.snake}::{spec.name}Glue<pykit::trt::PluginBase>>("
            f"pykit::trt::{spec.snake}_creator(), f);\n    }}"
        )
    return "\n".join(['#include "glue_harness.h"', *includes, "", "int main() {", *calls,
                      '    std::printf("checks %d failures %d\\n", harness::checks, harness::failures);',
                      "    return harness::failures == 0 ? 0 : 1;", "}", ""])


@pytest.mark.parametrize("major", [8, 10, 11])
def test_glue_on_the_cpu(tmp_path, major):
    include = _headers(major)
    specs = registry.discover()
    generated = tmp_path / "generated"
    generated.mkdir()
    (tmp_path / "main.cpp").write_text(_main(specs, generated))
    dirs = [HERE, include, REPO / "plugins", generated, CUDA_INCLUDE] + [s.folder for s in specs]
    obj = tmp_path / "main.o"
    build = subprocess.run(["g++", "-std=c++17", "-O0", "-w", "-c", *[f"-I{d}" for d in dirs],
                            str(tmp_path / "main.cpp"), "-o", str(obj)], capture_output=True, text=True)
    assert build.returncode == 0, build.stderr[-4000:]
    undefined = subprocess.run(["nm", "--undefined-only", "--format=just-symbols", str(obj)],
                               capture_output=True, text=True, check=True).stdout.split()
    stubs = [sym for sym in undefined if "pykit" in sym or sym.startswith("cuda")]
    (tmp_path / "stubs.s").write_text(".section .note.GNU-stack,\"\",@progbits\n.text\n"
                                      + "".join(f".globl {sym}\n{sym}:\n    ud2\n" for sym in stubs))
    link = subprocess.run(["g++", str(obj), str(tmp_path / "stubs.s"), "-o", str(tmp_path / "harness")],
                          capture_output=True, text=True)
    assert link.returncode == 0, link.stderr[-4000:]
    run = subprocess.run([str(tmp_path / "harness")], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    checks = int(run.stdout.split("checks ")[1].split()[0])
    # 3 plugins x (a dozen per precision + the rest): far more than a trivial run would report
    assert checks >= 40 * len([s for s in specs if any(s.folder.glob("*_plugin.cpp"))]), run.stdout
