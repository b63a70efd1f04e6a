"""Plugin registry: discover the plugin folders of every project (pykit.project), load their Python
parts, load the compiled plugin libraries and check that each registers exactly the creators its
project's specs declare, and that no two libraries register the same creator.

The library check needs no TensorRT Python bindings: each plugin library (libpykit_plugins.so,
lib<package>_plugins.so of a project) exports ``pykit_plugin_manifest()``, a JSON description of
its creators as TensorRT sees them.
"""
from __future__ import annotations

import ctypes
import importlib.util
import json
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import ModuleType
from typing import Callable

from pykit.project import Project, nearest_project, own_project, projects
from pykit.project import problems as project_problems
from pykit.spec import PluginSpec, SpecError, load_spec

LIBRARY_NAME = "libpykit_plugins.so"  # pykit's own; a project's is lib<package>_plugins.so


class RegistryError(RuntimeError):
    """A plugin or the plugin library cannot be found or loaded; the message says which and why."""


class NoPluginsError(RegistryError):
    """No plugin spec was found at all; the message says where pykit looked and why each place had none."""


# ---- plugin folders ------------------------------------------------------------------------


def plugin_roots() -> list[Path]:
    """The plugin folders of every project pykit knows (pykit.project.projects)."""
    return [p.plugins_dir for p in projects()]


def discover(roots: list[Path] | None = None) -> list[PluginSpec]:
    """Every ``<root>/<folder>/spec.toml`` of every project (or of the roots given), sorted by plugin
    name. One name in two folders is an error naming both spec files."""
    specs: dict[str, PluginSpec] = {}
    for root in roots if roots is not None else plugin_roots():
        for path in sorted(Path(root).glob("*/spec.toml")):
            spec = load_spec(path)
            if spec.name in specs:
                first = specs[spec.name].folder / "spec.toml"
                raise SpecError(f"{path}: plugin name '{spec.name}' is already used by {first} "
                                f"(projects {_project_label(first)} and {_project_label(path)}); rename one")
            specs[spec.name] = spec
    return sorted(specs.values(), key=lambda s: s.name)


def _project_label(spec_file: Path) -> str:
    project = _project_of_folder(spec_file.parent)
    return f"'{project.name}'" if project else f"'{spec_file.parent.parent}'"


def why_no_plugins() -> str:
    """Where pykit looked for plugin specs and why each place gave none."""
    lines = []
    for project in projects():
        if not project.plugins_dir.is_dir():
            why = f"{project.plugins_dir} does not exist"
            if project.is_pykit and project.root is None and project.origin.startswith("pykit"):
                why += " (this pykit install is incomplete: reinstall it)"
        else:
            why = f"no {project.plugins_dir}/*/spec.toml"
        lines.append(f"  {project.name} [{project.origin}]: {why}")
    lines += [f"  (skipped: {p})" for p in project_problems()]
    here = nearest_project()
    hint = ("add one with `pykit new NAME --input x --output y` in this project" if here is not None else
            "create a project with `pykit init DIR` and add plugins with `pykit new`, or set PYKIT_PLUGIN_PATH "
            "to a folder of plugin folders")
    return "no plugin specs found; looked in:\n" + "\n".join(lines) + f"\n{hint}"


def require_plugins() -> list[PluginSpec]:
    """discover(), but none at all is a NoPluginsError saying where pykit looked (every command
    that works on plugins starts here rather than print an empty result)."""
    specs = discover()
    if not specs:
        raise NoPluginsError(why_no_plugins())
    return specs


def _project_of_folder(folder: Path) -> Project | None:
    parent = Path(folder).resolve().parent
    return next((p for p in projects() if p.plugins_dir == parent), None)


def project_of(spec: PluginSpec) -> Project:
    """The project a plugin belongs to (its folder's parent is the project's plugins folder)."""
    project = _project_of_folder(spec.folder)
    if project is None:  # a folder given to discover(roots) directly: compiled into pykit's build
        return Project(str(spec.folder.parent), spec.folder.parent.resolve(), "pykit", None, "given folder")
    return project


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


def library_candidates(project: Project | None = None) -> list[Path]:
    """Where a project's plugin library (default: pykit's own) is looked for, in order."""
    return (project or own_project()).library_candidates()


def find_library(project: Project | None = None) -> Path | None:
    return (project or own_project()).find_library()


def project_libraries() -> dict[Project, Path | None]:
    """Each project that has plugins with a built library (None: not built), PYKIT_PLUGIN_PATH
    folders going with pykit's own library."""
    out: dict[Project, Path | None] = {}
    for project in projects():
        if project.is_pykit and not project.origin.startswith("pykit"):
            continue
        out[project] = project.find_library()
    return out


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
    kind: str  # missing | version | namespace | unregistered | fields | unspecified | clash
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


def diagnose_clashes(manifests: dict[str, dict]) -> list[Problem]:
    """Creators that several loaded libraries register under one (name, version, namespace): TensorRT
    keeps the first library's, so the others' plugin of that name never runs."""
    owners: dict[tuple[str, str, str], list[str]] = {}
    for library, manifest in manifests.items():
        for c in manifest.get("creators", []):
            owners.setdefault((c["name"], c["version"], c["namespace"]), []).append(library)
    return [Problem(name, "clash", f"version '{version}' in namespace '{namespace}' is registered by "
                    f"{' and '.join(libs)}; TensorRT uses only the first loaded (rename one, or give it its own namespace)")
            for (name, version, namespace), libs in sorted(owners.items()) if len(libs) > 1]


def specs_of(project: Project, specs: list[PluginSpec]) -> list[PluginSpec]:
    """The specs a project's library must register: its own plugins (pykit's own library also
    carries the PYKIT_PLUGIN_PATH plugins compiled into pykit's build)."""
    if project.is_pykit:
        return [s for s in specs if project_of(s).is_pykit]
    return [s for s in specs if project_of(s) == project]


def check_library(specs: list[PluginSpec] | None = None, path: str | Path | None = None,
                  project: Project | None = None) -> tuple[Path, list[Problem]]:
    """Load a project's plugin library (default: pykit's own; found or given) and diagnose it
    against that project's specs."""
    project = project or own_project()
    specs = specs_of(project, discover() if specs is None else specs)
    path = Path(path) if path else project.find_library()
    if path is None:
        looked = ", ".join(str(p) for p in project.library_candidates())
        raise RegistryError(f"no {project.library_name} found (looked in: {looked}); it is built when TensorRT is found")
    return path, diagnose(specs, library_manifest(path), str(path))


def check_libraries(specs: list[PluginSpec] | None = None) -> tuple[dict[Project, Path | None], list[Problem]]:
    """Every project's library loaded into this process, each diagnosed against its project's
    specs, then the clashes between them."""
    specs = discover() if specs is None else specs
    found = project_libraries()
    problems: list[Problem] = []
    manifests = {}
    for project, path in found.items():
        if path is None:
            continue
        _, mine = check_library(specs, path, project)
        problems += mine
        manifests[str(path)] = library_manifest(path)
    return found, problems + diagnose_clashes(manifests)
