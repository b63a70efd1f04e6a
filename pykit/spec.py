"""Plugin specs: one ``spec.toml`` per plugin folder, the single source of truth for a plugin.

The spec names the plugin (name, version, namespace), its tensors (rank, dtype per precision), its
attributes (type, default, constraints), the precisions it supports (every tensor in TensorRT's linear format), the tolerance per
precision with the error model behind it. The C++ attribute
struct, field table and serialization code are generated from it at build time (pykit/codegen.py),
so the attribute schema exists exactly once.

Everything else of a plugin is found by its folder and fixed file names, never by a key here:
reference.py (the numpy reference, a function named snake_case(name), and ``cases(rng)``), rules.py,
models.py, bench.py, host.cpp, bench.cpp, *_plugin.cpp, *_plugin_v3.cpp, *.cu (FILES below).

This module uses the standard library only: CMake runs it during the build.
"""
from __future__ import annotations

import math
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

PRECISIONS = ("fp32", "fp16", "int8")
ATTRIBUTE_TYPES = ("int32", "float32", "int32[]", "float32[]", "string")
TENSOR_DTYPES = ("float32", "float16", "int8", "int32", "int64", "bool")
NAME_RE = re.compile(r"^[A-Z][A-Za-z0-9]*$")
IDENT_RE = re.compile(r"^[a-z_][a-z0-9_]*$")
NAMESPACE_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1

# A plugin folder's parts, by fixed name (a glob where a folder may hold several). What each is:
FILES = {
    "spec.toml": "this spec",
    "reference.py": "the numpy reference <snake_case(name)>(inputs, attrs) and cases(rng), the validation cases",
    "rules.py": "graph-surgery rules: which ONNX nodes become this plugin",
    "models.py": "example ONNX models built in code (demo(seed) is the one `pykit demo` runs)",
    "bench.py": "the bench cases of `pykit bench`: cases(precisions), launch_case(...)",
    "README.md": "the plugin's documentation; its Inputs/Outputs/Attributes block is generated (pykit/docs.py)",
    "host.cpp": "the CPU backend, registered into pykit._host",
    "bench.cpp": "the CUDA launcher's binding, registered into pykit._kernels",
    "*_plugin.cpp": "the TensorRT IPluginV2DynamicExt glue",
    "*_plugin_v3.cpp": "the TensorRT IPluginV3 glue (TensorRT >= 10)",
    "*.cu": "the CUDA kernels and launcher",
}


def snake_case(name: str) -> str:
    """UpperCamelCase plugin name -> lower_snake_case (LayerNorm -> layer_norm): its folder's name
    and the name of its reference function."""
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", s).lower()


class SpecError(ValueError):
    """A spec is malformed; the message names the file and the offending key."""


@dataclass(frozen=True)
class Tolerance:
    """Allowed error of one output element: ``|got - ref| <= abs + rel*|ref| + steps*step``.

    ``step`` is the output's quantization step (its INT8 scale) and is zero for float outputs.
    ``why`` is the error model the three numbers come from.
    """

    abs: float = 0.0
    rel: float = 0.0
    steps: float = 0.0
    why: str = ""

    def bound(self, reference, step: float = 0.0):
        return self.abs + self.rel * abs(reference) + self.steps * step

    def describe(self) -> str:
        parts = []
        if self.abs:
            parts.append(f"{self.abs:.3g}")
        if self.rel:
            parts.append(f"{self.rel:.3g}·|ref|")
        if self.steps:
            parts.append(f"{self.steps:g} step")
        return " + ".join(parts) if parts else "exact"


@dataclass(frozen=True)
class TensorSpec:
    name: str
    ranks: tuple[int, ...]  # every rank the tensor may have at some precision
    dtypes: dict[str, str]  # precision -> dtype
    doc: str = ""
    ranks_by_precision: dict[str, tuple[int, ...]] | None = None  # where a precision allows fewer

    def dtype(self, precision: str) -> str:
        return self.dtypes[precision]

    def ranks_at(self, precision: str) -> tuple[int, ...]:
        return (self.ranks_by_precision or {}).get(precision, self.ranks)

    def quantized(self, precision: str) -> bool:
        return self.dtypes[precision] == "int8"


@dataclass(frozen=True)
class Attribute:
    name: str
    type: str
    required: bool = False
    default: Any = None
    min: float | None = None
    max: float | None = None
    choices: tuple[str, ...] = ()
    doc: str = ""

    @property
    def is_array(self) -> bool:
        return self.type.endswith("[]")

    @property
    def scalar_type(self) -> str:
        return self.type.removesuffix("[]")

    def check(self, value: Any, where: str = "") -> Any:
        """Return ``value`` converted to this attribute's type, or raise SpecError saying why not."""
        label = f"{where}attribute '{self.name}'"
        if self.type == "string":
            if not isinstance(value, str):
                raise SpecError(f"{label}: expected a string, got {value!r}")
            if self.choices and value not in self.choices:
                raise SpecError(f"{label}: {value!r} is not one of {list(self.choices)}")
            return value
        items = value if self.is_array else [value]
        if self.is_array and not isinstance(value, (list, tuple)):
            raise SpecError(f"{label}: expected a list of {self.scalar_type}, got {value!r}")
        out = []
        for item in items:
            if isinstance(item, bool) or not isinstance(item, (int, float)):
                raise SpecError(f"{label}: expected {self.scalar_type}, got {item!r}")
            if self.scalar_type == "int32":
                if float(item) != int(item):
                    raise SpecError(f"{label}: expected an integer, got {item!r}")
                item = int(item)
                if not INT32_MIN <= item <= INT32_MAX:
                    raise SpecError(f"{label}: {item} does not fit in int32")
            else:
                item = float(item)
                if not math.isfinite(item):
                    raise SpecError(f"{label}: {item} is not finite")
            if self.min is not None and item < self.min:
                raise SpecError(f"{label}: {item} is below the minimum {self.min:g}")
            if self.max is not None and item > self.max:
                raise SpecError(f"{label}: {item} is above the maximum {self.max:g}")
            out.append(item)
        return out if self.is_array else out[0]


@dataclass(frozen=True)
class PluginSpec:
    name: str
    version: str
    namespace: str
    summary: str
    folder: Path
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    attributes: tuple[Attribute, ...]
    precisions: tuple[str, ...]
    tolerances: dict[str, Tolerance]
    onnx_ops: tuple[str, ...] = field(default=())  # ONNX op types this plugin can take over

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.name, self.version, self.namespace)

    @property
    def snake(self) -> str:
        return self.folder.name

    # "module:function" of the reference and the validation cases, fixed by the folder (FILES).
    @property
    def reference(self) -> str:
        return f"reference:{snake_case(self.name)}"

    @property
    def cases(self) -> str:
        return "reference:cases"

    def attribute(self, name: str) -> Attribute:
        for attr in self.attributes:
            if attr.name == name:
                return attr
        raise KeyError(name)

    def resolve_attributes(self, given: dict[str, Any]) -> dict[str, Any]:
        """Defaults filled in, every value checked; unknown or missing ones raise SpecError."""
        where = f"{self.name}: "
        unknown = sorted(set(given) - {a.name for a in self.attributes})
        if unknown:
            raise SpecError(f"{where}unknown attribute(s) {unknown}; known: {[a.name for a in self.attributes]}")
        out = {}
        for attr in self.attributes:
            if attr.name in given:
                out[attr.name] = attr.check(given[attr.name], where)
            elif attr.required:
                raise SpecError(f"{where}required attribute '{attr.name}' is missing")
            else:
                out[attr.name] = attr.default
        return out


# --------------------------------------------------------------------------------------------
# Loading


def _take(table: dict, key: str, kind, where: str, default: Any = ..., allowed=None):
    if key not in table:
        if default is ...:
            raise SpecError(f"{where}: missing required key '{key}'")
        return default
    value = table[key]
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        raise SpecError(f"{where}: '{key}' must be {names}, got {value!r}")
    if allowed is not None and value not in allowed:
        raise SpecError(f"{where}: '{key}' = {value!r} is not one of {list(allowed)}")
    return value


def _no_extra(table: dict, known: set[str], where: str) -> None:
    extra = sorted(set(table) - known)
    if extra:
        raise SpecError(f"{where}: unknown key(s) {extra}; allowed: {sorted(known)}")


def _tensor(table: dict, precisions: tuple[str, ...], where: str) -> TensorSpec:
    _no_extra(table, {"name", "rank", "dtype", "doc"}, where)
    name = _take(table, "name", str, where)
    where = f"{where} '{name}'"
    rank = table.get("rank")
    # rank: an integer, a list, or a table precision -> integer/list (a precision that allows fewer
    # ranks, e.g. TensorRT 8.5 has no INT8 format for some ranks)
    per_precision = rank if isinstance(rank, dict) else {p: rank for p in precisions}
    if isinstance(rank, dict) and sorted(rank) != sorted(precisions):
        raise SpecError(f"{where}: 'rank' as a table needs exactly the precisions {list(precisions)}, got {sorted(rank)}")
    by_precision = {}
    for p, r in per_precision.items():
        ranks = tuple(r) if isinstance(r, list) else (r,)
        if not ranks or not all(isinstance(k, int) and not isinstance(k, bool) and 0 <= k <= 8 for k in ranks):
            raise SpecError(f"{where}: 'rank' must be an integer 0..8 or a list of them, got {r!r}")
        by_precision[p] = ranks
    ranks = tuple(sorted({k for r in by_precision.values() for k in r}))
    dtype = table.get("dtype")
    if isinstance(dtype, str):
        dtype = {p: dtype for p in precisions}
    if not isinstance(dtype, dict):
        raise SpecError(f"{where}: 'dtype' must be a dtype name or a table precision -> dtype")
    missing = [p for p in precisions if p not in dtype]
    if missing:
        raise SpecError(f"{where}: 'dtype' has no entry for precision(s) {missing}")
    for p, d in dtype.items():
        if p not in precisions:
            raise SpecError(f"{where}: 'dtype' names precision '{p}', which the plugin does not list")
        if d not in TENSOR_DTYPES:
            raise SpecError(f"{where}: dtype '{d}' for {p} is not one of {list(TENSOR_DTYPES)}")
    differs = {p: r for p, r in by_precision.items() if r != ranks}
    return TensorSpec(name, ranks, dict(dtype), _take(table, "doc", str, where, ""), by_precision if differs else None)


def _attribute(table: dict, where: str) -> Attribute:
    _no_extra(table, {"name", "type", "required", "default", "min", "max", "choices", "doc"}, where)
    name = _take(table, "name", str, where)
    where = f"{where} '{name}'"
    if not IDENT_RE.match(name):
        raise SpecError(f"{where}: attribute names are lower_snake_case identifiers")
    if name in ("plugin_version", "plugin_namespace"):
        raise SpecError(f"{where}: '{name}' is reserved for the ONNX parser")
    kind = _take(table, "type", str, where, allowed=ATTRIBUTE_TYPES)
    required = _take(table, "required", bool, where, False)
    lo = _take(table, "min", (int, float), where, None)
    hi = _take(table, "max", (int, float), where, None)
    choices = tuple(_take(table, "choices", list, where, []))
    if choices and kind != "string":
        raise SpecError(f"{where}: 'choices' applies to string attributes only")
    if (lo is not None or hi is not None) and kind == "string":
        raise SpecError(f"{where}: 'min'/'max' apply to numeric attributes only")
    if lo is not None and hi is not None and lo > hi:
        raise SpecError(f"{where}: min {lo} > max {hi}")
    attr = Attribute(name, kind, required, None, lo, hi, choices, _take(table, "doc", str, where, ""))
    if required and "default" in table:
        raise SpecError(f"{where}: a required attribute has no default")
    if not required:
        if "default" not in table:
            raise SpecError(f"{where}: an optional attribute needs a 'default'")
        default = attr.check(table["default"], f"{where}: default of ")
        attr = Attribute(name, kind, False, default, lo, hi, choices, attr.doc)
    return attr


def _tolerance(table: dict, where: str) -> Tolerance:
    _no_extra(table, {"abs", "rel", "steps", "why"}, where)
    vals = {k: _take(table, k, float, where, 0.0) for k in ("abs", "rel", "steps")}
    for k, v in vals.items():
        if not (math.isfinite(v) and v >= 0):
            raise SpecError(f"{where}: '{k}' must be a finite number >= 0, got {v}")
    why = _take(table, "why", str, where)
    if not why.strip():
        raise SpecError(f"{where}: 'why' must state the error model behind the tolerance")
    return Tolerance(vals["abs"], vals["rel"], vals["steps"], why.strip())


def _fixed_entry_point(data: dict, key: str, fixed: str, where: str) -> None:
    # Transitional: specs written before the folder fixed these may still state them, but only as
    # the folder's own value (templates/plugin/spec.toml.j2 still writes them).
    if key in data and data[key] != fixed:
        raise SpecError(f"{where}: '{key}' is fixed by the plugin folder ({fixed!r}); got {data[key]!r} "
                        f"(delete the key: reference.py defines {fixed.split(':')[1]}() and cases(rng))")


def load_spec(path: str | Path) -> PluginSpec:
    """Load and validate one ``spec.toml``; every error names the file and the key at fault."""
    path = Path(path)
    where = str(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SpecError(f"{where}: no such spec file") from None
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{where}: not valid TOML: {exc}") from None
    _no_extra(
        data,
        {"name", "version", "namespace", "summary", "precisions", "reference", "cases",
         "onnx_ops", "inputs", "outputs", "attributes", "tolerance"},
        where,
    )
    name = _take(data, "name", str, where)
    if not NAME_RE.match(name):
        raise SpecError(f"{where}: 'name' must be UpperCamelCase letters and digits, got {name!r}")
    version = _take(data, "version", str, where)
    if not re.match(r"^[0-9]+$", version):
        raise SpecError(f"{where}: 'version' must be a string of digits such as \"1\", got {version!r}")
    namespace = _take(data, "namespace", str, where, "pykit")
    if not NAMESPACE_RE.match(namespace):
        raise SpecError(f"{where}: 'namespace' {namespace!r} is not a valid identifier")
    precisions = tuple(_take(data, "precisions", list, where))
    bad = [p for p in precisions if p not in PRECISIONS]
    if not precisions or bad or len(set(precisions)) != len(precisions):
        raise SpecError(f"{where}: 'precisions' must be distinct values from {list(PRECISIONS)}, got {list(precisions)}")

    inputs = tuple(_tensor(t, precisions, f"{where}: input") for t in _take(data, "inputs", list, where))
    outputs = tuple(_tensor(t, precisions, f"{where}: output") for t in _take(data, "outputs", list, where))
    if not outputs:
        raise SpecError(f"{where}: a plugin needs at least one output")
    names = [t.name for t in inputs + outputs]
    if len(set(names)) != len(names):
        raise SpecError(f"{where}: tensor names must be distinct, got {names}")
    attributes = tuple(_attribute(a, f"{where}: attribute") for a in _take(data, "attributes", list, where, []))
    attr_names = [a.name for a in attributes]
    if len(set(attr_names)) != len(attr_names):
        raise SpecError(f"{where}: attribute names must be distinct, got {attr_names}")

    tol_table = _take(data, "tolerance", dict, where)
    tolerances = {}
    for p in precisions:
        if p not in tol_table:
            raise SpecError(f"{where}: [tolerance.{p}] is missing (every supported precision needs one)")
        tolerances[p] = _tolerance(tol_table[p], f"{where}: tolerance.{p}")
    extra = sorted(set(tol_table) - set(precisions))
    if extra:
        raise SpecError(f"{where}: tolerance for unsupported precision(s) {extra}")

    folder = path.parent
    _fixed_entry_point(data, "reference", f"reference:{snake_case(name)}", where)
    _fixed_entry_point(data, "cases", "reference:cases", where)
    return PluginSpec(
        name=name,
        version=version,
        namespace=namespace,
        summary=_take(data, "summary", str, where, ""),
        folder=folder,
        inputs=inputs,
        outputs=outputs,
        attributes=attributes,
        precisions=precisions,
        tolerances=tolerances,
        onnx_ops=tuple(_take(data, "onnx_ops", list, where, [])),
    )
