"""Create a plugin project in DIR: pyproject (scikit-build-core), CMakeLists, plugins/, a package, tests, README.

Example:
  pykit init myplugins && cd myplugins && pykit new MyOp --input x:float --output y && pip install -e .

The project builds its own host module (<package>._host) and, with TensorRT, its own plugin
library (lib<package>_plugins.so) through pykit's CMake package; once installed, pykit finds its
plugins next to its own (entry point group pykit.projects). DIR must not exist or be empty.
"""
from __future__ import annotations

import keyword
import re
import sys

NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")


def add_arguments(parser) -> None:
    parser.add_argument("dir", help="the project folder to create (must not exist, or be empty)")
    parser.add_argument("--name", default=None,
                        help="project name (default: DIR's name); its package is the name with - as _")


class InitError(ValueError):
    """Bad project name or destination; the message names it."""


def package_name(name: str) -> str:
    import importlib.util

    if not NAME_RE.match(name):
        raise InitError(f"project name '{name}': use letters, digits, - and _, starting with a letter "
                        "(pass --name to choose one other than the folder's)")
    package = name.replace("-", "_").lower()
    if keyword.iskeyword(package) or package in ("pykit", "plugins", "tests", "test"):
        raise InitError(f"project name '{name}': its package '{package}' is reserved; pick another with --name")
    if importlib.util.find_spec(package) is not None:
        raise InitError(f"project name '{name}': a module '{package}' is already importable here; "
                        "pick another with --name")
    return package


def render(name: str, package: str) -> dict[str, str]:
    """Every file of the new project, by path relative to it."""
    import jinja2

    import pykit
    from pykit.project import templates_dir

    root = templates_dir("project")
    if not root.is_dir():
        raise InitError(f"no project templates at {root}: this pykit install is incomplete")
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(root)), undefined=jinja2.StrictUndefined,
                             keep_trailing_newline=True, autoescape=False)
    values = {"name": name, "package": package, "pykit_version": pykit.__version__}
    files = {}
    for path in sorted(root.rglob("*.j2")):
        rel = path.relative_to(root).as_posix()[: -len(".j2")]
        rel = re.sub(r"^package/", f"{package}/", rel)
        rel = ".gitignore" if rel == "gitignore" else rel
        files[rel] = env.get_template(path.relative_to(root).as_posix()).render(values)
    return files


def create(dest, name: str | None = None):
    """Write the project into dest (absent or empty) all at once: rendered into a temporary folder
    beside it, then renamed into place."""
    import os
    import shutil
    import tempfile
    from pathlib import Path

    dest = Path(dest).absolute()
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise InitError(f"{dest} already exists and is not an empty folder; nothing written")
    name = name or dest.name
    files = render(name, package_name(name))
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        for rel, text in files.items():
            (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
            (tmp / rel).write_text(text)
        umask = os.umask(0)
        os.umask(umask)
        tmp.chmod(0o777 & ~umask)  # mkdtemp makes it private; a project folder is an ordinary one
        if dest.exists():
            dest.rmdir()  # empty, checked above
        os.replace(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest, sorted(files)


def run(args) -> int:
    import jinja2

    try:
        dest, files = create(args.dir, args.name)
    except (InitError, jinja2.TemplateError, OSError) as exc:
        print(f"pykit init: {exc}", file=sys.stderr)
        return 2
    print(f"created plugin project {dest}:")
    for rel in files:
        print(f"  {rel}")
    print(f"next: cd {args.dir} && pykit new MyOp --input x:float --output y && pip install -e . && python -m pytest -q")
    return 0
