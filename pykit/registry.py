"""Plugin registry: discover plugin folders, load their Python parts, load the compiled plugin
library and check that it registers exactly the creators the specs declare.

The library check needs no TensorRT Python bindings: libpykit_plugins.so exports
``pykit_plugin_manifest()``, a JSON description of its creators as TensorRT sees them.
"""
from __future__ import annotations

import ctypes
import importlib.util
import json
import os
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import ModuleType
from typing import Callable

from pykit.spec import PluginSpec, SpecError, load_spec

REPO_ROOT = Path(__file__).resolve().parents[1]
LIBRARY_NAME = "libpykit_plugins.so"


class RegistryError(RuntimeError):
    """A plugin or the plugin library cannot be found or loaded; the message says which and why."""


# ---- plugin folders ------------------------------------------------------------------------


def plugin_roots() -> list[Path]:
    """The repository's plugins/ and any folders in PYKIT_PLUGIN_PATH (os.pathsep separated)."""
    roots = [REPO_ROOT / "plugins"]
    roots += [Path(p) for p in os.environ.get("PYKIT_PLUGIN_PATH", "").split(os.pathsep) if p]
    return roots


def discover(roots: list[Path] | None = None) -> list[PluginSpec]:
    """Every ``<root>/<folder>/spec.toml``, sorted by plugin name. Duplicate names are an error."""
    specs: dict[str, PluginSpec] = {}
    for root in roots if roots is not None else plugin_roots():
        for path in sorted(Path(root).glob("*/spec.toml")):
            spec = load_spec(path)
            if spec.name in specs:
                raise SpecError(
                    f"{path}: plugin name '{spec.name}' is already used by {specs[spec.name].folder / 'spec.toml'}"
                )
            specs[spec.name] = spec
    return sorted(specs.values(), key=lambda s: s.name)


def get(name: str, roots: list[Path] | None = None) -> PluginSpec:
    specs = discover(roots)
    for spec in specs:
        if spec.name == name:
            return spec
    raise RegistryError(f"no plugin named '{name}'; known: {[s.name for s in specs]}")


def load_module(spec: PluginSpec, module: str) -> ModuleType:
    """Import ``<plugin folder>/<module>.py`` under a name unique to the plugin."""
    qualified = f"pykit_plugins.{spec.snake}.{module}"
    if qualified in sys.modules:
        return sys.modules[qualified]
    path = spec.folder / f"{module}.py"
    loader_spec = importlib.util.spec_from_file_location(qualified, path)
    if loader_spec is None or loader_spec.loader is None:
        raise RegistryError(f"{spec.name}: cannot import {path}")
    mod = importlib.util.module_from_spec(loader_spec)
    sys.modules[qualified] = mod
    try:
        loader_spec.loader.exec_module(mod)
    except Exception:
        del sys.modules[qualified]
        raise
    return mod


def entry_point(spec: PluginSpec, which: str) -> Callable:
    """The spec's ``reference`` or ``cases`` function."""
    module, function = getattr(spec, which).split(":")
    mod = load_module(spec, module)
    try:
        return getattr(mod, function)
    except AttributeError:
        raise RegistryError(f"{spec.name}: {spec.folder / (module + '.py')} has no function '{function}'") from None


# ---- the compiled plugin library -------------------------------------------------------------


def library_candidates() -> list[Path]:
    """Where the plugin library is looked for, in order."""
    found = []
    if os.environ.get("PYKIT_PLUGIN_LIBRARY"):
        found.append(Path(os.environ["PYKIT_PLUGIN_LIBRARY"]))
    from pykit.extensions import build_dir

    if build_dir() is not None:
        found.append(build_dir() / LIBRARY_NAME)
    found.append(Path(__file__).resolve().parent / LIBRARY_NAME)
    found += sorted(REPO_ROOT.glob(f"build/*/{LIBRARY_NAME}"))
    return found


def find_library() -> Path | None:
    for path in library_candidates():
        if path.is_file():
            return path
    return None


@lru_cache(maxsize=None)
def load_library(path: str) -> ctypes.CDLL:
    """dlopen the plugin library globally (TensorRT finds its creators in the process registry)."""
    p = Path(path)
    if not p.is_file():
        raise RegistryError(f"plugin library {p} does not exist (build it with TensorRT: see README, 'GPU path')")
    try:
        lib = ctypes.CDLL(str(p), mode=ctypes.RTLD_GLOBAL)
    except OSError as exc:
        hint = ""
        if "libnvinfer" in str(exc):
            hint = " (TensorRT's libnvinfer is not on LD_LIBRARY_PATH; set TENSORRT_ROOT and LD_LIBRARY_PATH)"
        raise RegistryError(f"plugin library {p} could not be loaded: {exc}{hint}") from None
    if not hasattr(lib, "pykit_plugin_manifest"):
        raise RegistryError(f"{p} is not a pykit plugin library (no pykit_plugin_manifest symbol)")
    lib.pykit_plugin_manifest.restype = ctypes.c_char_p
    return lib


def library_manifest(path: str | Path) -> dict:
    """{"tensorrt": int, "creators": [{name, version, namespace, registered, fields: [...]}, ...]}"""
    return json.loads(load_library(str(path)).pykit_plugin_manifest().decode())


# ---- diagnosis -------------------------------------------------------------------------------

FIELD_TYPES = {"int32": "int32", "float32": "float32", "int32[]": "int32", "float32[]": "float32", "string": "string"}


@dataclass(frozen=True)
class Problem:
    plugin: str
    kind: str  # missing | version | namespace | unregistered | fields | unspecified
    message: str

    def __str__(self) -> str:
        return f"{self.plugin}: {self.kind}: {self.message}"


def diagnose(specs: list[PluginSpec], manifest: dict, library: str = "the plugin library") -> list[Problem]:
    """Compare the creators a library registers with the specs; one Problem per disagreement."""
    problems: list[Problem] = []
    creators = manifest.get("creators", [])
    by_name: dict[str, list[dict]] = {}
    for c in creators:
        by_name.setdefault(c["name"], []).append(c)
    for spec in specs:
        same_name = by_name.get(spec.name, [])
        if not same_name:
            problems.append(Problem(spec.name, "missing", f"{library} has no creator named '{spec.name}'"))
            continue
        exact = [c for c in same_name if c["version"] == spec.version and c["namespace"] == spec.namespace]
        if not exact:
            versions = sorted({c["version"] for c in same_name})
            spaces = sorted({c["namespace"] for c in same_name})
            if spec.version not in versions:
                problems.append(Problem(spec.name, "version",
                                        f"{library} has version(s) {versions}, the spec says '{spec.version}'"))
            if spec.namespace not in spaces:
                problems.append(Problem(spec.name, "namespace",
                                        f"{library} registers it in namespace(s) {spaces}, the spec says '{spec.namespace}'"))
            if spec.version in versions and spec.namespace in spaces:
                problems.append(Problem(spec.name, "version",
                                        f"no creator with both version '{spec.version}' and namespace '{spec.namespace}'"))
            continue
        creator = exact[0]
        if not creator.get("registered", False):
            problems.append(Problem(spec.name, "unregistered",
                                    "TensorRT's plugin registry returns another creator for this key "
                                    "(registered twice, or by another library)"))
        want = [(a.name, FIELD_TYPES[a.type]) for a in spec.attributes]
        have = [(f["name"], f["type"]) for f in creator.get("fields", [])]
        if want != have:
            missing = [n for n, _ in want if n not in dict(have)]
            extra = [n for n, _ in have if n not in dict(want)]
            retyped = [f"{n} ({dict(have)[n]} vs spec {t})" for n, t in want if n in dict(have) and dict(have)[n] != t]
            parts = []
            if missing:
                parts.append(f"missing fields {missing}")
            if extra:
                parts.append(f"fields not in the spec {extra}")
            if retyped:
                parts.append(f"type mismatch {retyped}")
            if not parts:
                parts.append(f"field order {[n for n, _ in have]} differs from the spec's {[n for n, _ in want]}")
            problems.append(Problem(spec.name, "fields", "; ".join(parts) + " (rebuild the library from this spec)"))
    spec_names = {s.name for s in specs}
    for c in creators:
        if c["name"] not in spec_names:
            problems.append(Problem(c["name"], "unspecified", f"{library} registers it, but no plugin folder has its spec"))
    return problems


def check_library(specs: list[PluginSpec] | None = None, path: str | Path | None = None) -> tuple[Path, list[Problem]]:
    """Load the plugin library (found or given) and diagnose it against the specs."""
    specs = discover() if specs is None else specs
    path = Path(path) if path else find_library()
    if path is None:
        looked = ", ".join(str(p) for p in library_candidates())
        raise RegistryError(f"no {LIBRARY_NAME} found (looked in: {looked}); it is built when TensorRT is found")
    return path, diagnose(specs, library_manifest(path), str(path))
