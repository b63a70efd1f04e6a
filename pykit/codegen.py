"""Compile a plugin's spec.toml into its C++ header (run by CMake at build time).

The header holds the whole spec as C++:
- `IO`: tensor names and counts, the precisions the spec offers and the dtype of every tensor at
  each (plugins/common/io.h's enums). The TensorRT bases derive getNbOutputs, the count checks,
  supportsFormatCombination and the output types from it; the host binder checks calls with it.
- `Attrs`: one member per spec attribute, with its default, the field table `kFields` (name,
  type, required, constraints) that TensorRT creators expose and parse with, and a `visit`
  function that plugins/common/fields.h uses to parse, check and (de)serialize. The schema hash
  changes whenever the plugin's name, version or attribute list changes, so an engine serialized
  with an older spec is refused instead of misread.
- For a plugin whose spec offers int8, the spec's synthesized attribute `int8_scales` (pykit/spec.py)
  is an ordinary member, and `kNumInt8Scales` / `kInt8ScalePositions` say which tensor (IO position:
  inputs, then outputs) each of its values belongs to; fields.h checks its length and values, the
  TensorRT bases and the host binder use it instead of the runtime's scales when it is given.

Usage: python -m pykit.codegen SPEC.toml OUT.h   (standard library only)
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

from pykit.spec import INT8_SCALES, Attribute, PluginSpec, load_spec

CPP_TYPES = {
    "int32": "std::int32_t",
    "float32": "float",
    "int32[]": "std::vector<std::int32_t>",
    "float32[]": "std::vector<float>",
    "string": "std::string",
}
KINDS = {"int32": "kInt32", "float32": "kFloat32", "string": "kString"}
PRECISION_ENUM = {"fp32": "Precision::kFP32", "fp16": "Precision::kFP16", "int8": "Precision::kINT8"}
DTYPE_ENUM = {"float32": "Dtype::kFloat32", "float16": "Dtype::kFloat16", "int8": "Dtype::kInt8",
              "int32": "Dtype::kInt32", "int64": "Dtype::kInt64", "bool": "Dtype::kBool"}


def schema_hash(spec: PluginSpec) -> int:
    """FNV-1a (32 bit) of the plugin identity and its attribute names and types, in order."""
    text = "|".join([spec.name, spec.version, spec.namespace] + [f"{a.name}:{a.type}" for a in spec.attributes])
    h = 0x811C9DC5
    for byte in text.encode():
        h = ((h ^ byte) * 0x01000193) & 0xFFFFFFFF
    return h


def _cpp_literal(attr: Attribute, value) -> str:
    if value is None:
        return "{}"
    if attr.type == "string":
        return '{"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"}'
    items = value if attr.is_array else [value]
    if attr.scalar_type == "float32":
        text = [repr(float(v)) + "f" for v in items]
    else:
        text = [str(int(v)) for v in items]
    return "{" + ", ".join(text) + "}"


def _bound(value) -> str:
    return ("true", repr(float(value))) if value is not None else ("false", "0.0")


def _io_table(spec: PluginSpec) -> list[str]:
    tensors = spec.inputs + spec.outputs
    names = ", ".join(f'"{t.name}"' for t in tensors)
    precisions = ", ".join(PRECISION_ENUM[p] for p in spec.precisions)
    rows = [
        "        {" + ", ".join(DTYPE_ENUM[t.dtype(p)] for t in tensors) + "},  // " + p for p in spec.precisions
    ]
    # ranks as bit masks (bit r set: rank r allowed), per precision and tensor
    ranks = [
        "        {" + ", ".join(f"0x{sum(1 << r for r in t.ranks_at(p)):03x}u" for t in tensors) + "},  // " + p
        for p in spec.precisions
    ]
    return [
        "// The spec's tensors: counts, names, and each tensor's dtype and ranks at each precision.",
        "struct IO {",
        f"    static constexpr std::int32_t kNumInputs = {len(spec.inputs)};",
        f"    static constexpr std::int32_t kNumOutputs = {len(spec.outputs)};",
        f"    static constexpr std::int32_t kNumTensors = {len(tensors)};",
        f"    static constexpr std::int32_t kNumPrecisions = {len(spec.precisions)};",
        f"    static constexpr const char* kNames[kNumTensors] = {{{names}}};",
        f"    static constexpr Precision kPrecisions[kNumPrecisions] = {{{precisions}}};",
        "    static constexpr Dtype kDtypes[kNumPrecisions][kNumTensors] = {",
        *rows,
        "    };",
        "    static constexpr std::uint32_t kRanks[kNumPrecisions][kNumTensors] = {",
        *ranks,
        "    };",
        "};",
        "",
    ]


def _int8_scale_positions(spec: PluginSpec) -> list[str]:
    """The IO position (inputs, then outputs) of each value of `int8_scales`, in its order."""
    names = [t.name for t in spec.inputs + spec.outputs]
    positions = [names.index(n) for n in spec.int8_tensors]
    lines = [f"    // {INT8_SCALES}: one scale per int8 tensor ({', '.join(spec.int8_tensors) or 'none'}), empty = the runtime's",
             f"    static constexpr std::int32_t kNumInt8Scales = {len(positions)};"]
    if positions:
        lines.append(f"    static constexpr std::int32_t kInt8ScalePositions[kNumInt8Scales] = {{{', '.join(map(str, positions))}}};")
    return lines


def render(spec: PluginSpec) -> str:
    ns = spec.snake
    lines = [
        f"// Generated from {ns}/spec.toml by pykit/codegen.py. Do not edit: edit the spec.",
        "#pragma once",
        "",
        "#include <cstdint>",
        "#include <string>",
        "#include <vector>",
        "",
        '#include "common/fields.h"',
        '#include "common/io.h"',
        "",
        f"namespace pykit {{ namespace {ns} {{",
        "",
        *_io_table(spec),
    ]
    for attr in spec.attributes:
        if attr.choices:
            choices = ", ".join(f'"{c}"' for c in attr.choices)
            lines.append(f"inline constexpr const char* k{attr.name}_choices[] = {{{choices}}};")
    lines.append("")
    lines.append("inline constexpr FieldRecord kFields[] = {")
    for attr in spec.attributes:
        has_min, lo = _bound(attr.min)
        has_max, hi = _bound(attr.max)
        choices = (f"k{attr.name}_choices", str(len(attr.choices))) if attr.choices else ("nullptr", "0")
        lines.append(
            f'    {{"{attr.name}", FieldKind::{KINDS[attr.scalar_type]}, {str(attr.is_array).lower()}, '
            f"{str(attr.required).lower()}, {has_min}, {lo}, {has_max}, {hi}, {choices[0]}, {choices[1]}}},"
        )
    if not spec.attributes:
        lines.append('    {"", FieldKind::kInt32, false, false, false, 0.0, false, 0.0, nullptr, 0},  // none')
    lines += [
        "};",
        "",
        "struct Attrs {",
        f"    using IO = {ns}::IO;",
        f'    static constexpr const char* kPluginName = "{spec.name}";',
        f'    static constexpr const char* kPluginVersion = "{spec.version}";',
        f'    static constexpr const char* kPluginNamespace = "{spec.namespace}";',
        f"    static constexpr std::uint32_t kSchemaHash = 0x{schema_hash(spec):08x}u;",
        f"    static constexpr std::size_t kNumFields = {len(spec.attributes)};",
        f"    static constexpr const FieldRecord (&kFields)[{max(1, len(spec.attributes))}] = {ns}::kFields;",
        *_int8_scale_positions(spec),
        "",
    ]
    for attr in spec.attributes:
        lines.append(f"    {CPP_TYPES[attr.type]} {attr.name}{_cpp_literal(attr, attr.default)};")
    for const in ("", " const"):
        lines += ["", "    template <class V>", f"    void visit(V&& v){const} {{"]
        lines += [f"        v(kFields[{i}], {a.name});" for i, a in enumerate(spec.attributes)]
        if not spec.attributes:
            lines.append("        (void)v;")
        lines.append("    }")
    lines += ["};", "", f"}} }}  // namespace pykit::{ns}", ""]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    spec = load_spec(argv[0])
    out = Path(argv[1])
    text = render(spec)
    if not out.exists() or out.read_text() != text:  # untouched output: no needless rebuild
        out.parent.mkdir(parents=True, exist_ok=True)
        # a name of this process's own: make builds the header for each target that lists it, at once
        tmp = out.with_name(f"{out.name}.{os.getpid()}.tmp")
        tmp.write_text(text)
        tmp.replace(out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
