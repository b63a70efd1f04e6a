"""Generate a plugin's C++ attribute header from its spec.toml (run by CMake at build time).

The header holds the `Attrs` struct (one member per spec attribute, with its default), the field
table `kFields` (name, type, required, constraints) that TensorRT creators expose and parse with,
and a `visit` function that plugins/common/fields.h uses to parse, check and (de)serialize. The
schema hash changes whenever the plugin's name, version or attribute list changes, so an engine
serialized with an older spec is refused instead of misread.

Usage: python -m pykit.codegen SPEC.toml OUT.h   (standard library only)
"""
from __future__ import annotations

import sys
from pathlib import Path

from pykit.spec import Attribute, PluginSpec, load_spec

CPP_TYPES = {
    "int32": "std::int32_t",
    "float32": "float",
    "int32[]": "std::vector<std::int32_t>",
    "float32[]": "std::vector<float>",
    "string": "std::string",
}
KINDS = {"int32": "kInt32", "float32": "kFloat32", "string": "kString"}


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


def render(spec: PluginSpec) -> str:
    ns = spec.snake
    lines = [
        f"// Generated from plugins/{ns}/spec.toml by pykit/codegen.py. Do not edit: edit the spec.",
        "#pragma once",
        "",
        "#include <cstdint>",
        "#include <string>",
        "#include <vector>",
        "",
        '#include "common/fields.h"',
        "",
        f"namespace pykit {{ namespace {ns} {{",
        "",
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
        f'    static constexpr const char* kPluginName = "{spec.name}";',
        f'    static constexpr const char* kPluginVersion = "{spec.version}";',
        f'    static constexpr const char* kPluginNamespace = "{spec.namespace}";',
        f"    static constexpr std::uint32_t kSchemaHash = 0x{schema_hash(spec):08x}u;",
        f"    static constexpr std::size_t kNumFields = {len(spec.attributes)};",
        f"    static constexpr const FieldRecord (&kFields)[{max(1, len(spec.attributes))}] = {ns}::kFields;",
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
        tmp = out.with_suffix(".tmp")
        tmp.write_text(text)
        tmp.replace(out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
