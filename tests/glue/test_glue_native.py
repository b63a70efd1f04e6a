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


def _build_and_run(tmp_path: Path, dirs: list[Path]) -> subprocess.CompletedProcess:
    """Compile tmp_path/main.cpp, link what it leaves undefined of pykit and CUDA to stubs that trap
    (kernel launchers, cudaGetErrorString: never reached on the CPU), run it."""
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
    return subprocess.run([str(tmp_path / "harness")], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("major", [8, 10, 11])
def test_glue_on_the_cpu(tmp_path, major):
    include = _headers(major)
    specs = registry.discover()
    generated = tmp_path / "generated"
    generated.mkdir()
    (tmp_path / "main.cpp").write_text(_main(specs, generated))
    run = _build_and_run(tmp_path, [HERE, include, REPO / "plugins", generated, CUDA_INCLUDE] + [s.folder for s in specs])
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    checks = int(run.stdout.split("checks ")[1].split()[0])
    # 3 plugins x (a dozen per precision + the rest): far more than a trivial run would report
    assert checks >= 40 * len([s for s in specs if any(s.folder.glob("*_plugin.cpp"))]), run.stdout


# LayerNorm int8 through the glue's enqueue, TensorRT handing desc.scale = 1 for every int8 tensor (what
# TensorRT 8.5 does between Q and DQ, measured on the H200). The kernel launcher is replaced by the
# host core's row loop (layer_norm_core.h, the CPU backend's arithmetic) on host pointers, so the
# plugin computes on the CPU with whatever scales the base hands run().
SCALES_MAIN = r"""
#include "glue_harness.h"
#include "layer_norm_plugin.cpp"

namespace pykit { namespace layer_norm {
cudaError_t launch(Precision precision, const void* x, const void* scale, const void* bias, void* y, const Geometry& g,
                   const Params& params, const Scales& s, cudaStream_t) {
    if (precision != Precision::kINT8) return cudaErrorInvalidValue;
    std::vector<float> work, partial;
    const auto* xp = static_cast<const std::int8_t*>(x);
    auto* yp = static_cast<std::int8_t*>(y);
    for (std::int64_t r = 0; r < g.rows; ++r)
        normalize_row_host(xp + r * g.cols, static_cast<const std::int8_t*>(scale), static_cast<const std::int8_t*>(bias),
                           yp + r * g.cols, g.cols, params.epsilon, s, work, partial);
    return cudaSuccess;
}
} }
// the bases format a CUDA error message at every enqueue (libcudart is not linked here)
const char* cudaGetErrorString(cudaError_t) { return "(no CUDA runtime)"; }

const int kRows = ROWS, kCols = COLS;
const std::vector<std::int8_t> x_data = {X}, gamma_data = {G}, beta_data = {B};
const std::vector<float> scales = {SCALES};

std::vector<nvinfer1::PluginField> fields(bool with_scales) {
    static const std::vector<int32_t> axis = {-1}, stash = {1};
    static const std::vector<float> eps = {1e-5f};
    std::vector<nvinfer1::PluginField> f;
    f.emplace_back("axis", axis.data(), nvinfer1::PluginFieldType::kINT32, 1);
    f.emplace_back("epsilon", eps.data(), nvinfer1::PluginFieldType::kFLOAT32, 1);
    f.emplace_back("stash_type", stash.data(), nvinfer1::PluginFieldType::kINT32, 1);
    if (with_scales) f.emplace_back("int8_scales", scales.data(), nvinfer1::PluginFieldType::kFLOAT32, int32_t(scales.size()));
    return f;
}

// The descriptors TensorRT 8.5 hands between Q and DQ: int8, linear, scale 1.
void descs(nvinfer1::PluginTensorDesc* in, nvinfer1::PluginTensorDesc* out) {
    for (int k = 0; k < 4; ++k) {
        nvinfer1::PluginTensorDesc& d = k < 3 ? in[k] : out[0];
        d = nvinfer1::PluginTensorDesc{};
        d.type = nvinfer1::DataType::kINT8;
        d.format = nvinfer1::TensorFormat::kLINEAR;
        d.scale = 1.f;
        d.dims.nbDims = 2;
        d.dims.d[0] = (k == 1 || k == 2) ? 1 : kRows;
        d.dims.d[1] = kCols;
    }
}

template <class Enqueue>
void print(const char* label, Enqueue&& enqueue) {
    nvinfer1::PluginTensorDesc in[3], out[1];
    descs(in, out);
    std::vector<std::int8_t> y(x_data.size(), 0);
    const void* inputs[3] = {x_data.data(), gamma_data.data(), beta_data.data()};
    void* outputs[1] = {y.data()};
    const int32_t status = enqueue(in, out, inputs, outputs);
    std::printf("%s %d", label, int(status));
    for (std::int8_t v : y) std::printf(" %d", int(v));
    std::printf("\n");
}

int main() {
    auto& creator = pykit::trt::layer_norm_creator();
    for (bool with_scales : {true, false}) {
        auto f = fields(with_scales);
        nvinfer1::PluginFieldCollection fc{int32_t(f.size()), f.data()};
        auto* plugin = static_cast<nvinfer1::IPluginV2DynamicExt*>(creator.createPlugin("ln", &fc));
        if (plugin == nullptr) { std::printf("createPlugin failed\n"); return 1; }
        // and the same plugin after an engine round trip (serialize -> deserializePlugin)
        std::vector<char> blob(plugin->getSerializationSize());
        plugin->serialize(blob.data());
        auto* back = static_cast<nvinfer1::IPluginV2DynamicExt*>(creator.deserializePlugin("ln", blob.data(), blob.size()));
        for (auto* p : {plugin, back})
            print(with_scales ? (p == plugin ? "v2_attr" : "v2_attr_deserialized") : (p == plugin ? "v2_none" : "v2_none_deserialized"),
                  [&](auto* in, auto* out, auto* inputs, auto* outputs) { return p->enqueue(in, out, inputs, outputs, nullptr, nullptr); });
        plugin->destroy();
        back->destroy();
    }
#if NV_TENSORRT_MAJOR >= 10
    auto& v3 = pykit::trt::layer_norm_creator_v3();
    auto f = fields(true);
    nvinfer1::PluginFieldCollection fc{int32_t(f.size()), f.data()};
    auto* built = v3.createPlugin("ln", &fc, nvinfer1::TensorRTPhase::kBUILD);
    auto runtime = [](nvinfer1::IPluginV3* p) {
        return static_cast<nvinfer1::IPluginV3OneRuntime*>(p->getCapabilityInterface(nvinfer1::PluginCapabilityType::kRUNTIME));
    };
    // the engine's plugin: recreated at runtime from the fields it serialized
    auto* engine = v3.createPlugin("ln", runtime(built)->getFieldsToSerialize(), nvinfer1::TensorRTPhase::kRUNTIME);
    for (auto* p : {built, engine})
        print(p == built ? "v3_attr" : "v3_attr_deserialized", [&](auto* in, auto* out, auto* inputs, auto* outputs) {
            return runtime(p)->enqueue(in, out, inputs, outputs, nullptr, nullptr);
        });
    delete built;
    delete engine;
#endif
    for (const auto& e : harness::errors) std::printf("error %s\n", e.c_str());
    return 0;
}
"""


@pytest.mark.parametrize("major", [8, 10, 11])
def test_int8_scales_attribute_replaces_the_scales_tensorrt_hands(tmp_path, major):
    """With int8_scales set, the base hands run() the attribute's scales though TensorRT's desc.scale is
    1 (V2, V2 deserialized, and on TensorRT >= 10 V3 built and recreated from its serialized fields):
    the result is LayerNorm's within its int8 tolerance. Without the attribute the same enqueue
    computes with scale 1 and is far off (what TensorRT 8.5's fused Q/DQ gave: max err 5.28)."""
    from pykit.precision.numerics import quantize_int8

    include = _headers(major)
    spec = registry.get("LayerNorm")
    reference = registry.entry_point(spec, "reference")
    rng = np.random.default_rng(13)
    rows, cols = 3, 16
    x = rng.integers(-100, 101, size=(rows, cols)).astype(np.int8)
    gamma = rng.integers(-127, 128, size=(1, cols)).astype(np.int8)
    beta = rng.integers(-127, 128, size=(1, cols)).astype(np.int8)
    sx, sg, sb, sy = 0.05, 0.015, 0.01, 0.07  # |gamma|, |beta| <= 1.9 (the spec's cases keep them <= 2)
    scales = np.array([sx, sg, sb, sy], dtype=np.float32)
    assert spec.int8_tensors == ["x", "scale", "bias", "y"]  # the attribute's order
    generated = tmp_path / "generated"
    generated.mkdir()
    (generated / "layer_norm_attrs.h").write_text(codegen.render(spec))
    literal = lambda a: ", ".join(str(int(v)) for v in np.ravel(a))  # noqa: E731
    (tmp_path / "main.cpp").write_text(
        SCALES_MAIN.replace("ROWS", str(rows)).replace("COLS", str(cols)).replace("{X}", "{" + literal(x) + "}")
        .replace("{G}", "{" + literal(gamma) + "}").replace("{B}", "{" + literal(beta) + "}")
        .replace("{SCALES}", "{" + ", ".join(f"{float(s)!r}f" for s in scales) + "}"))
    run = _build_and_run(tmp_path, [HERE, include, REPO / "plugins", generated, CUDA_INCLUDE, spec.folder])
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    got = {}
    for line in run.stdout.splitlines():
        label, *values = line.split()
        if label.startswith(("v2_", "v3_")):
            assert values[0] == "0", f"{label}: enqueue returned {values[0]}: {run.stdout[-2000:]}"
            got[label] = np.array([int(v) for v in values[1:]], dtype=np.int8).reshape(rows, cols)
    labels = {"v2_attr", "v2_attr_deserialized", "v2_none", "v2_none_deserialized"}
    assert set(got) == labels | ({"v3_attr", "v3_attr_deserialized"} if major >= 10 else set()), run.stdout

    attrs = spec.resolve_attributes({})
    y = reference({"x": x * np.float64(scales[0]), "scale": gamma * np.float64(scales[1]),
                   "bias": beta * np.float64(scales[2])}, attrs)["y"]
    want = quantize_int8(y, float(scales[3])).astype(np.int32)
    assert np.abs(want).max() < 127, "the case saturates: pick other scales"
    # the spec's int8 tolerance is 0.5 output step + ~1e-4 absolute: at most one int8 step after rounding
    for label in sorted(got):
        err = np.abs(got[label].astype(np.int32) - want).max()
        if "attr" in label:
            assert err <= 1, f"{label}: max error {err} steps with the attribute's scales"
        else:  # scale 1 for gamma/beta/y: gamma in [-127, 127] instead of [-1.9, 1.9]
            assert err > 20, f"{label}: the scale-1 run should be far off, got max error {err} steps"
