"""``pykit new``: render templates/ into a complete plugin folder.

The generated plugin works at once: a placeholder op (every output is a copy of the first float
input; int8 requantizes to the output's scale) through every layer of the kit (spec, kernel core
shared by CUDA and the CPU, CUDA launcher with one path per precision, TensorRT glue, numpy
reference and cases, rewrite rule, tests, README section), with TODO markers where the real math
goes. CMake and the registry pick the folder up by its spec.toml; nothing else is edited.

Template engine: Jinja2. The templates are the files they produce (C++, Python, TOML, Markdown),
readable and compilable in the head, with ``{{ }}`` for names and ``{% for %}`` over tensors and
attributes; StrictUndefined turns a misspelt variable into an error instead of an empty string;
trim_blocks/lstrip_blocks keep the output free of template whitespace. It is the de-facto standard
(cookiecutter, copier), already installed wherever pip is, and needs no code generator of our own.
``string.Template`` has no loops, so per-tensor code would be built in Python strings (string soup).

Everything the user gives is checked before anything is written (``ScaffoldError`` names the
argument); the folder is rendered into a temporary directory beside its destination and renamed
into place, so a failure leaves nothing half-written, and an existing plugin folder is only
replaced with ``force=True``.
"""
from __future__ import annotations

import json
import keyword
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from pykit.spec import IDENT_RE, INT32_MAX, INT32_MIN, NAME_RE, PRECISIONS, Attribute, SpecError, load_spec

REPO_ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = REPO_ROOT / "templates" / "plugin"
APIS = ("v2", "v3")

# --attr NAME:TYPE[=DEFAULT]: the short names the CLI takes -> spec attribute types
ATTR_TYPES = {
    "int": "int32", "int32": "int32",
    "float": "float32", "float32": "float32",
    "str": "string", "string": "string",
    "int[]": "int32[]", "int32[]": "int32[]", "ints": "int32[]",
    "float[]": "float32[]", "float32[]": "float32[]", "floats": "float32[]",
}
# --input NAME[:KIND]: float tensors follow the precision (float32/float16/int8); int32 stays int32
TENSOR_KINDS = {"float": "float", "int32": "int32", "int": "int32"}
ONNX_OP_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
CPP_KEYWORDS = set("""
alignas alignof and and_eq asm auto bitand bitor bool break case catch char char8_t char16_t char32_t class
compl concept const consteval constexpr constinit const_cast continue co_await co_return co_yield decltype
default delete do double dynamic_cast else enum explicit export extern false float for friend goto if inline
int long mutable namespace new noexcept not not_eq nullptr operator or or_eq private protected public register
reinterpret_cast requires return short signed sizeof static static_assert static_cast struct switch template
this thread_local throw true try typedef typeid typename union unsigned using virtual void volatile wchar_t
while xor xor_eq
""".split())
# names the templates use for their own variables, parameters and members
RESERVED = {"np", "attrs", "inputs", "outputs", "rng", "shape", "self", "pytest", "name", "call", "params",
            "stream", "workspace", "reference", "cases", "py", "host", "require", "launch", "run", "load",
            "store", "apply", "std", "src", "dst", "out", "output", "s_in", "dtype", "status", "volume"}


class ScaffoldError(ValueError):
    """Bad arguments to ``pykit new``; the message names the argument and says what is expected."""


@dataclass(frozen=True)
class TensorArg:
    name: str
    kind: str  # "float" (per precision) | "int32"
    index: int

    @property
    def is_float(self) -> bool:
        return self.kind == "float"


@dataclass(frozen=True)
class AttrArg:
    name: str
    type: str  # spec attribute type
    required: bool
    default: object = None  # checked value (None when required)

    @property
    def sample(self):
        """A value for the validation cases: the default, or a placeholder for required ones."""
        if not self.required:
            return self.default
        return {"int32": 1, "float32": 1.0, "string": "", "int32[]": [1], "float32[]": [1.0]}[self.type]

    @property
    def is_numeric_scalar(self) -> bool:
        return self.type in ("int32", "float32")

    @property
    def cpp_type(self) -> str:
        return {"int32": "std::int32_t", "float32": "float"}.get(self.type, "")


@dataclass(frozen=True)
class Plan:
    name: str
    snake: str
    inputs: tuple[TensorArg, ...]
    outputs: tuple[TensorArg, ...]
    attrs: tuple[AttrArg, ...]
    precisions: tuple[str, ...]
    api: str = "v2"
    onnx_op: str = ""
    files: dict = field(default_factory=dict)

    @property
    def source(self) -> TensorArg:
        """The input the placeholder op copies: the first float input."""
        return next(t for t in self.inputs if t.is_float)


# ---- parsing and checking the arguments ------------------------------------------------------


def snake_case(name: str) -> str:
    """LayerNorm -> layer_norm, ROIAlign -> roi_align, Conv3DPlus -> conv3d_plus."""
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", s)
    return s.lower()


def _check_identifier(name: str, what: str) -> None:
    if not IDENT_RE.match(name):
        raise ScaffoldError(f"{what} '{name}': must be a lower_snake_case identifier ([a-z_][a-z0-9_]*)")
    if name in CPP_KEYWORDS or keyword.iskeyword(name):
        raise ScaffoldError(f"{what} '{name}': is a C++ or Python keyword")
    if name in RESERVED:
        raise ScaffoldError(f"{what} '{name}': is used by the generated code itself; pick another name "
                            f"(reserved: {', '.join(sorted(RESERVED))})")


def parse_tensor(text: str, index: int, role: str) -> TensorArg:
    """``x`` or ``x:float`` (per-precision float tensor) or ``idx:int32``."""
    name, _, kind = text.partition(":")
    name, kind = name.strip(), (kind.strip() or "float")
    _check_identifier(name, f"--{role} {text!r}: name")
    if kind not in TENSOR_KINDS or (role == "output" and TENSOR_KINDS[kind] != "float"):
        allowed = "float" if role == "output" else ", ".join(sorted(TENSOR_KINDS))
        raise ScaffoldError(f"--{role} {text!r}: kind '{kind}' is not one of: {allowed}")
    return TensorArg(name, TENSOR_KINDS[kind], index)


def _parse_default(attr_type: str, text: str, where: str):
    scalar = attr_type.removesuffix("[]")
    if attr_type == "string":
        return text
    items = text.strip()
    if attr_type.endswith("[]"):
        items = items.strip("[]")
        parts = [p.strip() for p in items.split(",") if p.strip()] if items.strip() else []
    else:
        parts = [items]
    out = []
    for p in parts:
        try:
            if scalar == "int32":
                v = int(p, 0)
            else:
                v = float(p)
        except ValueError:
            raise ScaffoldError(f"{where}: default '{p}' is not a{'n int' if scalar == 'int32' else ' float'}") from None
        out.append(v)
    return out if attr_type.endswith("[]") else out[0]


def parse_attr(text: str) -> AttrArg:
    """``name:type`` (required) or ``name:type=default``; types int, float, str, int[], float[]."""
    where = f"--attr {text!r}"
    head, eq, default_text = text.partition("=")
    name, colon, type_text = head.partition(":")
    name, type_text = name.strip(), type_text.strip()
    if not colon or not type_text:
        raise ScaffoldError(f"{where}: expected NAME:TYPE or NAME:TYPE=DEFAULT, TYPE one of int, float, str, int[], float[]")
    _check_identifier(name, f"{where}: name")
    if name in ("plugin_version", "plugin_namespace"):
        raise ScaffoldError(f"{where}: '{name}' is reserved for the ONNX parser")
    if type_text not in ATTR_TYPES:
        raise ScaffoldError(f"{where}: type '{type_text}' is not one of int, float, str, int[], float[]")
    attr_type = ATTR_TYPES[type_text]
    if not eq:
        return AttrArg(name, attr_type, True)
    value = _parse_default(attr_type, default_text, where)
    try:
        value = Attribute(name, attr_type).check(value)
    except SpecError as exc:
        raise ScaffoldError(f"{where}: {exc}") from None
    return AttrArg(name, attr_type, False, value)


def make_plan(name: str, inputs, outputs, attrs=(), precisions=("fp32", "fp16", "int8"), api: str = "v2",
              onnx_op: str | None = None) -> Plan:
    """Check every argument of ``pykit new`` and return what will be rendered."""
    if not NAME_RE.match(name or ""):
        raise ScaffoldError(f"plugin name '{name}': must be UpperCamelCase letters and digits, e.g. LayerNorm")
    snake = snake_case(name)
    if snake in ("common",) or not IDENT_RE.match(snake):
        raise ScaffoldError(f"plugin name '{name}': its folder would be '{snake}', which is not allowed")
    if api not in APIS:
        raise ScaffoldError(f"--api {api!r}: must be one of {', '.join(APIS)}")
    if isinstance(precisions, str):
        precisions = [p.strip() for p in precisions.split(",") if p.strip()]
    bad = [p for p in precisions if p not in PRECISIONS]
    if not precisions or bad or len(set(precisions)) != len(precisions):
        raise ScaffoldError(f"--precisions {','.join(precisions)!r}: distinct values from {','.join(PRECISIONS)}")
    precisions = tuple(p for p in PRECISIONS if p in precisions)  # canonical order
    if not inputs:
        raise ScaffoldError("at least one --input is needed")
    if not outputs:
        raise ScaffoldError("at least one --output is needed")
    ins = tuple(t if isinstance(t, TensorArg) else parse_tensor(t, k, "input") for k, t in enumerate(inputs))
    outs = tuple(t if isinstance(t, TensorArg) else parse_tensor(t, k, "output") for k, t in enumerate(outputs))
    if not any(t.is_float for t in ins):
        raise ScaffoldError("at least one float --input is needed (the placeholder op copies the first one)")
    names = [t.name for t in ins + outs]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ScaffoldError(f"tensor name(s) {dup} given more than once (inputs and outputs share one namespace)")
    ats = tuple(a if isinstance(a, AttrArg) else parse_attr(a) for a in attrs)
    anames = [a.name for a in ats]
    dup = sorted({n for n in anames if anames.count(n) > 1})
    if dup:
        raise ScaffoldError(f"--attr name(s) {dup} given more than once")
    clash = sorted(set(anames) & set(names))
    if clash:
        raise ScaffoldError(f"name(s) {clash} used for both a tensor and an attribute")
    if len(ins) > 16 or len(outs) > 8 or len(ats) > 32:
        raise ScaffoldError("too many tensors or attributes for one plugin (16 inputs, 8 outputs, 32 attributes)")
    onnx_op = onnx_op or name
    if not ONNX_OP_RE.match(onnx_op):
        raise ScaffoldError(f"--onnx-op '{onnx_op}': not an ONNX op type name")
    return Plan(name, snake, ins, outs, ats, precisions, api, onnx_op)


# ---- rendering ----------------------------------------------------------------------------------


def _toml(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return str(value)


def _cpp_float(value: float) -> str:
    text = repr(float(value))
    return text + ("f" if ("." in text or "e" in text) else ".f")


def environment(templates: Path = TEMPLATES):
    try:
        import jinja2
    except ImportError:  # pragma: no cover - jinja2 is a dependency
        raise ScaffoldError("pykit new needs Jinja2 (pip install jinja2)") from None
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates)),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters["toml"] = _toml
    env.filters["py"] = repr
    env.filters["cpp_float"] = _cpp_float
    return env


def outputs_for(plan: Plan) -> dict[str, str]:
    """Generated file (relative to the plugin folder) -> template (relative to templates/plugin)."""
    s = plan.snake
    files = {
        "spec.toml": "spec.toml.j2",
        "README.md": "README.md.j2",
        f"{s}_core.h": "core.h.j2",
        f"{s}_kernel.h": "kernel.h.j2",
        f"{s}_kernel.cu": "kernel.cu.j2",
        "host.cpp": "host.cpp.j2",
        "reference.py": "reference.py.j2",
        "rules.py": "rules.py.j2",
        f"tests/test_{s}.py": "test_plugin.py.j2",
    }
    if plan.api == "v2":
        files[f"{s}_plugin.cpp"] = "plugin_v2.cpp.j2"
    else:
        files[f"{s}_plugin_v3.cpp"] = "plugin_v3.cpp.j2"
    return files


def render(plan: Plan, templates: Path = TEMPLATES) -> dict[str, str]:
    """Every generated file's text, by path relative to the plugin folder."""
    import jinja2

    env = environment(templates)
    context = {
        "plan": plan,
        "name": plan.name,
        "snake": plan.snake,
        "inputs": plan.inputs,
        "outputs": plan.outputs,
        "attrs": plan.attrs,
        "numeric_attrs": [a for a in plan.attrs if a.is_numeric_scalar],
        "precisions": plan.precisions,
        "api": plan.api,
        "onnx_op": plan.onnx_op,
        "source": plan.source,
        "float_inputs": [t for t in plan.inputs if t.is_float],
        "int_inputs": [t for t in plan.inputs if not t.is_float],
    }
    out = {}
    for rel, template in outputs_for(plan).items():
        try:
            out[rel] = env.get_template(template).render(**context)
        except jinja2.TemplateError as exc:
            raise ScaffoldError(f"template {templates / template}: {exc}") from None
    return out


# ---- writing ------------------------------------------------------------------------------------


def _existing_plugin_names(plugins_dir: Path, skip: Path) -> dict[str, Path]:
    found = {}
    for spec_path in sorted(plugins_dir.glob("*/spec.toml")):
        if spec_path.parent.resolve() == skip.resolve() or spec_path.parent.name.startswith("."):
            continue
        try:
            found[load_spec(spec_path).name] = spec_path.parent
        except SpecError:
            continue  # a broken neighbour is its own problem, not this plugin's
    return found


def create(plan: Plan, plugins_dir: str | Path, force: bool = False, templates: Path = TEMPLATES) -> Path:
    """Render ``plan`` into ``plugins_dir/<snake>``: all or nothing. Returns the folder."""
    plugins_dir = Path(plugins_dir)
    dest = plugins_dir / plan.snake
    if dest.exists() and not force:
        raise ScaffoldError(f"{dest} exists already; pass --force to replace it (its files are deleted)")
    if dest.exists() and not dest.is_dir():
        raise ScaffoldError(f"{dest} exists and is not a folder")
    if plugins_dir.is_dir():
        other = _existing_plugin_names(plugins_dir, dest).get(plan.name)
        if other is not None:
            raise ScaffoldError(f"plugin name '{plan.name}' is already used by {other / 'spec.toml'}")
    files = render(plan, templates)
    plugins_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{plan.snake}.new-", dir=str(plugins_dir)))
    old = None
    try:
        for rel, text in files.items():
            path = tmp / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        try:
            load_spec(tmp / "spec.toml")  # the generated spec must load: a template bug stops here
        except SpecError as exc:
            raise ScaffoldError(f"generated spec does not load (template bug): {exc}") from None
        os.chmod(tmp, 0o755)
        if dest.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{plan.snake}.old-", dir=str(plugins_dir)))
            os.rmdir(old)
            os.rename(dest, old)
        os.rename(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None and old.exists() and not dest.exists():
            os.rename(old, dest)  # put the previous plugin back
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return dest
