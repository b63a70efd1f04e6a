"""Plugin projects: where plugin folders live and what was built from them.

A plugin project is a directory whose ``pyproject.toml`` has a ``[tool.pykit]`` table (``pykit init``
makes one; pykit's own repository is one too)::

    [tool.pykit]
    package = "myplugins"   # the Python package that holds the built parts (default: the project name)
    plugins = "plugins"     # the folder of plugin folders (default: plugins)

Its CMakeLists builds, with ``pykit_add_plugins`` (pykit/cmake), the host module ``<package>._host``
and, with TensorRT, ``lib<package>_plugins.so``; both install into the package, its plugin folders
into ``<package>/_data/plugins``. An installed project announces itself with an entry point in the
group ``pykit.projects`` whose value is its package.

The projects pykit knows (:func:`projects`): pykit's own; every installed project; the nearest
project of the working directory (installed or not); each folder of plugin folders in
``PYKIT_PLUGIN_PATH`` (os.pathsep separated; their plugins are compiled into pykit's build, e.g.
the one ``PYKIT_BUILD_DIR`` names).
"""
from __future__ import annotations

import importlib
import importlib.util
import os
import re
import sys
from dataclasses import dataclass
from functools import lru_cache
from importlib import metadata
from pathlib import Path

ENTRY_POINT_GROUP = "pykit.projects"
PACKAGE_DIR = Path(__file__).resolve().parent

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


class ProjectError(RuntimeError):
    """A project's configuration cannot be read; the message names the file."""


@dataclass(frozen=True)
class Project:
    name: str                 # the package for built projects; the folder for a PYKIT_PLUGIN_PATH entry
    plugins_dir: Path
    package: str              # Python package that holds the host module and the plugin library
    root: Path | None         # source root (pyproject.toml with [tool.pykit]); None when installed
    origin: str               # how it was found, for messages

    @property
    def host_module_name(self) -> str:
        return f"{self.package}._host"

    @property
    def library_name(self) -> str:
        return f"lib{self.package}_plugins.so"

    @property
    def is_pykit(self) -> bool:
        return self.package == "pykit"

    def __str__(self) -> str:
        return f"{self.name} ({self.origin}; plugins in {self.plugins_dir})"

    def host_module(self):
        """The project's compiled host module (pykit's honours PYKIT_BUILD_DIR)."""
        if self.is_pykit:
            from pykit import extensions

            return extensions.load("_host")
        try:
            return importlib.import_module(self.host_module_name)
        except ImportError as exc:
            where = f" in {self.root}" if self.root else ""
            raise ImportError(f"{self.host_module_name} is not built ({exc}); run: pip install -e .{where}") from None

    def library_candidates(self) -> list[Path]:
        """Where this project's plugin library is looked for, in order: next to its host module,
        then (source trees) its build folders; pykit's own also PYKIT_PLUGIN_LIBRARY and PYKIT_BUILD_DIR."""
        found: list[Path] = []
        if self.is_pykit:
            from pykit.extensions import build_dir

            if os.environ.get("PYKIT_PLUGIN_LIBRARY"):
                found.append(Path(os.environ["PYKIT_PLUGIN_LIBRARY"]))
            if build_dir() is not None:
                found.append(build_dir() / self.library_name)
        try:
            spec = importlib.util.find_spec(self.host_module_name)
        except (ImportError, ValueError):
            spec = None
        if spec is not None and spec.origin:
            found.append(Path(spec.origin).parent / self.library_name)
        if self.root is not None:
            found += sorted(self.root.glob(f"build/*/{self.library_name}"))
        return list(dict.fromkeys(found))

    def find_library(self) -> Path | None:
        return next((p for p in self.library_candidates() if p.is_file()), None)


def kit_dir(name: str) -> Path:
    """A folder of the kit's files (plugins, templates): the source checkout's (editable install)
    or the one a wheel ships in pykit/_data."""
    source = PACKAGE_DIR.parent / name
    if source.is_dir() and (PACKAGE_DIR.parent / "pyproject.toml").is_file():
        return source
    return PACKAGE_DIR / "_data" / name


def templates_dir(kind: str) -> Path:
    """templates/<kind> (plugin: `pykit new`, project: `pykit init`)."""
    return kit_dir("templates") / kind


# ---- reading a project ------------------------------------------------------------------------


def read_config(root: Path) -> dict | None:
    """The [tool.pykit] table of root/pyproject.toml, with the project name; None if it has none."""
    path = root / "pyproject.toml"
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ProjectError(f"{path}: cannot be read: {exc}") from None
    table = data.get("tool", {}).get("pykit")
    if table is None:
        return None
    if not isinstance(table, dict):
        raise ProjectError(f"{path}: [tool.pykit] must be a table")
    name = data.get("project", {}).get("name", root.name)
    config = {"package": re.sub(r"[-.]+", "_", name).lower(), "plugins": "plugins", **table}
    for key in ("package", "plugins"):
        if not isinstance(config[key], str) or not config[key]:
            raise ProjectError(f"{path}: [tool.pykit] {key} must be a non-empty string")
    return config


def project_at(root: Path, origin: str) -> Project | None:
    config = read_config(root)
    if config is None:
        return None
    return Project(config["package"], (root / config["plugins"]).resolve(), config["package"], root.resolve(), origin)


def nearest_project(start: Path | None = None) -> Project | None:
    """The project whose root is ``start`` (default: the working directory) or its nearest ancestor."""
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        project = project_at(folder, f"project at {folder}")
        if project is not None:
            return project
    return None


def package_project(package: str, origin: str) -> Project:
    """An installed project from its package: an editable install points back at its source tree
    (whose pyproject.toml names this package), a wheel install ships the plugin folders in
    <package>/_data/plugins."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ProjectError(f"{origin}: package '{package}' is not importable (reinstall the project)")
    locations = [Path(p).resolve() for p in spec.submodule_search_locations]
    for location in locations:
        source = project_at(location.parent, origin)
        if source is not None and source.package == package:
            return source
    return Project(package, locations[0] / "_data" / "plugins", package, None, origin)


def own_project() -> Project:
    """pykit's own plugins: plugins/ of the source checkout (editable install), else pykit/_data/plugins."""
    source = project_at(PACKAGE_DIR.parent, "pykit's own, source checkout")
    if source is not None and source.package == "pykit":
        return source
    return Project("pykit", PACKAGE_DIR / "_data" / "plugins", "pykit", None, "pykit's own, installed")


@lru_cache(maxsize=None)
def installed_projects() -> tuple[tuple[Project, ...], tuple[str, ...]]:
    """(projects, problems) from the entry points of installed plugin projects."""
    found, problems = [], []
    for ep in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        origin = f"installed, entry point '{ep.name}' of {ENTRY_POINT_GROUP}"
        try:
            found.append(package_project(ep.value.split(":")[0].strip(), origin))
        except (ProjectError, ImportError, ValueError) as exc:
            problems.append(str(exc))
    return tuple(found), tuple(problems)


def path_projects() -> list[Project]:
    """PYKIT_PLUGIN_PATH entries: folders of plugin folders compiled into pykit's build."""
    out = []
    for entry in os.environ.get("PYKIT_PLUGIN_PATH", "").split(os.pathsep):
        if entry:
            folder = Path(entry).resolve()
            out.append(Project(str(folder), folder, "pykit", None, "PYKIT_PLUGIN_PATH"))
    return out


def projects() -> list[Project]:
    """Every project pykit knows, each plugins folder once (first finder wins): pykit's own,
    the installed ones, the working directory's, the PYKIT_PLUGIN_PATH entries."""
    candidates = [own_project(), *installed_projects()[0]]
    here = nearest_project()
    if here is not None:
        candidates.append(here)
    candidates += path_projects()
    seen: dict[Path, Project] = {}
    for project in candidates:
        seen.setdefault(project.plugins_dir, project)
    return list(seen.values())


def problems() -> list[str]:
    """Projects announced but not usable (a stale entry point, say)."""
    return list(installed_projects()[1])
