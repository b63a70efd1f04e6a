"""``pykit new``: write a plugin's spec.toml from the arguments, load it, and render templates/
from the loaded spec into a complete plugin folder.

The generated plugin works at once: a placeholder op (every output is a copy of the first float
input; int8 requantizes to the output's scale) through every layer of the kit (spec, kernel core
shared by CUDA and the CPU, CUDA launcher, TensorRT glue, numpy reference and cases, rewrite rule,
bench case and launcher binding, plugin-specific tests, README section), with TODO markers where
the real math goes. CMake, the registry and the bench find the folder by its files; nothing
outside it is edited.

Only ``spec.toml.j2`` reads the arguments (:class:`Plan`); the spec it writes is loaded with
:func:`pykit.spec.load_spec`, and every other template is rendered from that ``PluginSpec`` plus a
few values derived from it here (:func:`derived`), so what the templates know is what the spec
says. Counts, names and dtypes of the tensors are not restated in C++: the compiled spec
(``<id>_attrs.h``: ``IO``) has them.

Template engine: Jinja2. The templates are the files they produce (C++, Python, TOML, Markdown),
readable in the head, with ``{{ }}`` for names; StrictUndefined turns a misspelt variable into an
error instead of an empty string; trim_blocks/lstrip_blocks keep the output free of template
whitespace. It is the de-facto standard (cookiecutter, copier) and needs no generator of our own.

Everything the user gives is checked before anything is written (``ScaffoldError`` names the
argument); the folder is rendered into a temporary directory beside its destination and renamed
into place, so a failure leaves nothing half-written, and an existing plugin folder is only
replaced with ``force=True`` (and only by the plugin of the same name).
"""
from __future__ import annotations

import json
import keyword
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from pykit.spec import IDENT_RE, MAX_NAME_LENGTH, NAME_RE, PRECISIONS, Attribute, PluginSpec, SpecError, TensorSpec, load_spec
from pykit.docs import plugin_block

REPO_ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = REPO_ROOT / "templates" / "plugin"

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
# Attribute names become members of the generated Attrs struct, whose member function is `visit`.
# (The templates name tensors and attributes only in strings and as members, so nothing else of
# theirs can be shadowed.)
RESERVED = {"visit"}

# A plugin's folder name <id> is also its C++ namespace pykit::<id>, the prefix of its files and of
# pykit::trt::<id>_creator, and the name of its reference function in reference.py. So it must not
# be a keyword, nor a name that C++ code inside namespace pykit looks up unqualified, nor one of
# the kit's own namespaces, nor a name reference.py defines. Compiled (host, CUDA, TensorRT 8.5
# glue) with such names: pykit::std, ::pykit, ::nvinfer1, pykit::size_t, pykit::int32_t break the
# build (so do the kit's functions, e.g. pykit::select_row, read from its headers by
# kit_cpp_names); pykit::trt, ::host, ::detail, ::bench, ::py compile but merge the plugin into the
# kit's namespaces; cuda, cub, thrust, half, dim3, rintf compile but break the first kernel of the
# user's that names them unqualified.
RESERVED_IDS = {
    "common",  # plugins/common, the shared headers
    "std", "pykit", "nvinfer1", "pybind11", "py", "bench", "cuda", "cub", "thrust",  # namespaces
    "size_t", "ptrdiff_t", "nullptr_t", "max_align_t", "intptr_t", "uintptr_t", "dim3", "half",
    "int8_t", "int16_t", "int32_t", "int64_t", "uint8_t", "uint16_t", "uint32_t", "uint64_t",  # types
    "rintf",  # the C library function the kit's numeric.h calls
    "np", "cases",  # reference.py's module-level names
}


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


@dataclass(frozen=True)
class Plan:
    name: str
    snake: str
    inputs: tuple[TensorArg, ...]
    outputs: tuple[TensorArg, ...]
    attrs: tuple[AttrArg, ...]
    precisions: tuple[str, ...]
    onnx_op: str = ""

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
        raise ScaffoldError(f"{what} '{name}': is used by the generated code itself; pick another name")


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
    if attr_type.endswith("[]") and not value:
        # onnx.helper (and onnx-graphsurgeon's export) cannot type an empty list, so the rewrite
        # rule could not write the plugin node's attribute
        raise ScaffoldError(f"{where}: an empty array default cannot be written as an ONNX attribute; "
                            "give at least one value, or no default (required)")
    try:
        value = Attribute(name, attr_type).check(value)
    except SpecError as exc:
        raise ScaffoldError(f"{where}: {exc}") from None
    return AttrArg(name, attr_type, False, value)


def kit_cpp_names(roots=(REPO_ROOT / "plugins" / "common", REPO_ROOT / "pykit")) -> dict[str, Path]:
    """Lower-case names the kit's C++ headers declare at namespace scope (namespaces, types,
    functions, aliases: what a namespace pykit::<id> would clash with), each with the header."""
    decl = re.compile(r"^(?:template\s*<[^\n]*>\s*\n)?(?:(?:inline|static|constexpr|PYKIT_HD)[ \t]+)*"
                      r"(?:[A-Za-z_][\w:<>,]*[ \t*&]+)+([a-z_][a-z0-9_]*)\s*\(", re.M)
    names: dict[str, Path] = {}
    for root in roots:
        for header in sorted(Path(root).rglob("*.h")):
            code = re.sub(r"//[^\n]*", "", header.read_text(encoding="utf-8", errors="replace"))
            found = re.findall(r"\b(?:namespace|struct|class|enum class|enum|union)\s+([a-z_][a-z0-9_]*)", code)
            found += re.findall(r"^using\s+([a-z_][a-z0-9_]*)\s*=", code, re.M)
            found += re.findall(r"^namespace\s+([a-z_][a-z0-9_]*)\s*=", code, re.M)
            found += decl.findall(code)
            for name in found:
                names.setdefault(name, header)
    return names


def check_plugin_name(name: str) -> str:
    """Refuse a plugin name that is not UpperCamelCase, too long, or whose folder name (its C++
    namespace, file prefix and reference function) is a keyword or a name the generated code
    uses; return the folder name."""
    where = f"plugin name '{name}'"
    if not NAME_RE.match(name or ""):
        raise ScaffoldError(f"{where}: must be UpperCamelCase letters and digits, e.g. LayerNorm")
    if len(name) > MAX_NAME_LENGTH:
        raise ScaffoldError(f"{where}: {len(name)} characters; at most {MAX_NAME_LENGTH}")
    snake = snake_case(name)
    why = None
    if snake in CPP_KEYWORDS or keyword.iskeyword(snake) or keyword.iskeyword(name):
        why = "a C++ or Python keyword"
    elif snake in RESERVED_IDS:
        why = "a name the generated C++ or Python code uses already"
    else:
        header = kit_cpp_names().get(snake)
        if header is not None:
            why = f"declared by the kit's C++ headers ({header.relative_to(REPO_ROOT) if header.is_relative_to(REPO_ROOT) else header})"
    if why:
        raise ScaffoldError(f"{where}: its id '{snake}' (the folder, C++ namespace pykit::{snake}, file prefix and "
                            f"reference function) is {why}; pick another name (e.g. {name}Op)")
    return snake


def make_plan(name: str, inputs, outputs, attrs=(), precisions=("fp32", "fp16", "int8"),
              onnx_op: str | None = None) -> Plan:
    """Check every argument of ``pykit new`` and return what spec.toml will say. What depends on
    the plugins already there (a name or ONNX op taken) is checked by :func:`create`."""
    snake = check_plugin_name(name)
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
    return Plan(name, snake, ins, outs, ats, precisions, onnx_op)


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


def follows_precision(tensor: TensorSpec) -> bool:
    """A float tensor: its dtype is the precision's (float32/float16/int8), not a fixed one."""
    return all(d in ("float32", "float16", "int8") for d in tensor.dtypes.values())


def sample_value(attr: Attribute):
    """A value for the validation cases: the default, or a placeholder for a required attribute."""
    if not attr.required:
        return attr.default
    return {"int32": 1, "float32": 1.0, "string": "", "int32[]": [1], "float32[]": [1.0]}[attr.type]


CPP_SCALARS = {"int32": "std::int32_t", "float32": "float"}


def derived(spec: PluginSpec) -> dict:
    """What the templates other than spec.toml see: the loaded spec, and the few things derived
    from it that the placeholder op needs (which input it copies, the numeric attributes a kernel
    can take by value)."""
    source = next(k for k, t in enumerate(spec.inputs) if follows_precision(t))
    return {
        "spec": spec,
        "readme_block": plugin_block(spec),  # the README's generated part, as pykit.docs keeps it fresh
        "name": spec.name,
        "snake": spec.snake,
        "onnx_op": spec.onnx_ops[0] if spec.onnx_ops else spec.name,
        "source": spec.inputs[source],
        "source_index": source,
        "numeric_attrs": [a for a in spec.attributes if a.type in CPP_SCALARS],
        "required_attrs": [a for a in spec.attributes if a.required],
        "int_inputs": [k for k, t in enumerate(spec.inputs) if not follows_precision(t)],
    }


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
    env.filters["cpp_type"] = lambda attr: CPP_SCALARS[attr.type]
    env.filters["sample"] = sample_value
    env.tests["float"] = follows_precision
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
        "bench.py": "bench.py.j2",
        "bench.cpp": "bench.cpp.j2",
        f"tests/test_{s}.py": "test_plugin.py.j2",
        f"{s}_plugin.cpp": "plugin.cpp.j2",  # one body: IPluginV2DynamicExt, and IPluginV3 from TensorRT 10
    }
    return files


def _render(env, templates: Path, template: str, context: dict) -> str:
    import jinja2

    try:
        return env.get_template(template).render(**context)
    except jinja2.TemplateError as exc:
        raise ScaffoldError(f"template {templates / template}: {exc}") from None


def load_generated_spec(text: str, snake: str) -> PluginSpec:
    """Load spec.toml's text as the plugin folder ``<snake>`` would (the folder name is the spec's id)."""
    with tempfile.TemporaryDirectory(prefix="pykit-new-") as tmp:
        folder = Path(tmp) / snake
        folder.mkdir()
        (folder / "spec.toml").write_text(text, encoding="utf-8")
        try:
            spec = load_spec(folder / "spec.toml")
        except SpecError as exc:
            raise ScaffoldError(f"generated spec does not load (template bug): {exc}") from None
    return spec


def render(plan: Plan, templates: Path = TEMPLATES) -> dict[str, str]:
    """Every generated file's text, by path relative to the plugin folder: spec.toml from the
    arguments, the rest from the spec it loads as."""
    env = environment(templates)
    files = outputs_for(plan)
    spec_text = _render(env, templates, files.pop("spec.toml"), {"plan": plan})
    context = derived(load_generated_spec(spec_text, plan.snake))
    return {"spec.toml": spec_text, **{rel: _render(env, templates, t, context) for rel, t in files.items()}}


# ---- the plugins already there ------------------------------------------------------------------


def _known_specs(plugins_dir: Path, skip: Path) -> list[PluginSpec]:
    """Every plugin the registry discovers and every one in plugins_dir, except the folder ``skip``
    (the one being replaced). A broken neighbour is its own problem, not this plugin's."""
    from pykit import registry

    roots = [*registry.plugin_roots(), plugins_dir]
    seen, specs = set(), []
    for root in roots:
        for path in sorted(Path(root).glob("*/spec.toml")):
            folder = path.parent.resolve()
            if folder in seen or folder == skip.resolve() or folder.name.startswith("."):
                continue
            seen.add(folder)
            try:
                specs.append(load_spec(path))
            except SpecError:
                continue
    return specs


def rules_of(spec: PluginSpec) -> list:
    """The rewrite rules a plugin folder's rules.py registers, read by running it afresh (a module
    cached under the same folder name may be another project's) with the rule registry restored."""
    import importlib.util

    from pykit.surgeon import rules

    path = spec.folder / "rules.py"
    if not path.is_file():
        return []
    saved = dict(rules._RULES)
    rules._RULES.clear()
    try:
        loader = importlib.util.spec_from_file_location(f"pykit_new_rules_{spec.snake}", path)
        loader.loader.exec_module(importlib.util.module_from_spec(loader))
        return list(rules._RULES.values())
    except Exception:  # noqa: BLE001 - a neighbour's broken rules.py is reported by its own tests
        return []
    finally:
        rules._RULES.clear()
        rules._RULES.update(saved)


def claimed_ops(specs: list[PluginSpec]) -> dict[str, str]:
    """ONNX op type -> who claims it: a plugin's spec (onnx_ops) or a rewrite rule anchored on it
    (the ops each rule of plugins/*/rules.py registers with pykit.surgeon.rules)."""
    claims = {}
    for spec in specs:
        for rule in rules_of(spec):
            for op in (o for o in rule.ops if o not in rule.forced_only):
                claims.setdefault(op, f"rule '{rule.name}' of plugin {rule.plugin} ({spec.folder / 'rules.py'})")
        for op in spec.onnx_ops:
            claims.setdefault(op, f"plugin {spec.name} ({spec.folder / 'spec.toml'}, onnx_ops)")
    return claims


def check_neighbours(plan: Plan, specs: list[PluginSpec]) -> None:
    """Refuse a plan whose name, folder or ONNX op another plugin has already."""
    for spec in specs:
        if spec.name == plan.name:
            raise ScaffoldError(f"plugin name '{plan.name}' is already used by {spec.folder / 'spec.toml'}")
        if spec.name.lower() == plan.name.lower():
            raise ScaffoldError(f"plugin name '{plan.name}' differs only in case from {spec.name} "
                                f"({spec.folder / 'spec.toml'}); pick a name that differs in more than case")
        if spec.snake == plan.snake:
            raise ScaffoldError(f"plugin name '{plan.name}': its folder name '{plan.snake}' (its C++ namespace "
                                f"and creator symbol) is already {spec.name}'s ({spec.folder})")
    claim = claimed_ops(specs).get(plan.onnx_op)
    if claim is not None:
        hint = " (the default is the plugin name; pass --onnx-op)" if plan.onnx_op == plan.name else ""
        raise ScaffoldError(f"--onnx-op '{plan.onnx_op}'{hint}: already claimed by {claim}; a node of that op "
                            "would be rewritten by two rules")


def check_path_lengths(files, plugins_dir: Path) -> None:
    """Every path component the folder and its build create must fit the file system."""
    try:
        limit = os.pathconf(str(plugins_dir if plugins_dir.is_dir() else plugins_dir.parent), "PC_NAME_MAX")
    except (OSError, ValueError):
        limit = 255
    # the build adds <file>.o and <file>.o.d (ninja's dependency files) beside object files
    longest = max((part for rel in files for part in Path(rel).parts), key=lambda p: len(p.encode()))
    if len((longest + ".o.d").encode()) > limit:
        raise ScaffoldError(f"file name '{longest}' (and its build outputs) would exceed the file system's "
                            f"{limit} bytes per name; pick a shorter plugin name")


# ---- writing ------------------------------------------------------------------------------------


def create(plan: Plan, plugins_dir: str | Path, force: bool = False, templates: Path = TEMPLATES) -> Path:
    """Render ``plan`` into ``plugins_dir/<snake>``: all or nothing. Returns the folder."""
    plugins_dir = Path(plugins_dir)
    dest = plugins_dir / plan.snake
    if dest.exists() and not dest.is_dir():
        raise ScaffoldError(f"{dest} exists and is not a folder")
    if dest.exists():
        if not force:
            raise ScaffoldError(f"{dest} exists already; pass --force to replace it (its files are deleted)")
        try:
            holder = load_spec(dest / "spec.toml").name
        except SpecError:
            holder = None
        if holder is not None and holder != plan.name:
            raise ScaffoldError(f"{dest} holds plugin {holder}, not {plan.name} (both names map to the folder "
                                f"'{plan.snake}'); --force replaces a plugin only by one of the same name")
    check_neighbours(plan, _known_specs(plugins_dir, dest))
    files = render(plan, templates)
    check_path_lengths([f".{plan.snake}.new-xxxxxxxx", plan.snake, *files], plugins_dir)
    plugins_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{plan.snake}.new-", dir=str(plugins_dir)))
    old = None
    try:
        for rel, text in files.items():
            path = tmp / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
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
