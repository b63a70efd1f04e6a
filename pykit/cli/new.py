"""Create a plugin folder in this project: spec, kernel core, CUDA launcher, TensorRT glue, reference, rule, tests.

Example:
  pykit new LayerNorm --input x:float --input scale:float --input bias:float --output y \\
      --attr axis:int=-1 --attr epsilon:float=1e-5 --precisions fp32,fp16,int8 --onnx-op LayerNormalization

The folder goes into the plugins folder of the project it is run in: the nearest directory, this
one or above, whose pyproject.toml has a [tool.pykit] table (`pykit init DIR` makes a project;
pykit's own repository is one). The plugin builds and its tests pass at once, with a placeholder
op (every output is a copy of the first float input) and TODO markers where the real math goes.
CMake and the registry find the new folder by its spec.toml; nothing else needs an edit. An
existing folder is replaced only with --force.
"""
from __future__ import annotations

import os
import shlex
import sys


def add_arguments(parser) -> None:
    parser.add_argument("name", help="plugin name, UpperCamelCase (folder: its snake_case)")
    parser.add_argument("--input", action="append", default=[], metavar="NAME[:KIND]",
                        help="an input, in order; KIND float (per precision, the default) or int32")
    parser.add_argument("--output", action="append", default=[], metavar="NAME",
                        help="an output, in order (float, per precision)")
    parser.add_argument("--attr", action="append", default=[], metavar="NAME:TYPE[=DEFAULT]",
                        help="an attribute; TYPE int, float, str, int[], float[]; no default = required")
    parser.add_argument("--precisions", default="fp32,fp16,int8", help="subset of fp32,fp16,int8 (default: all)")
    parser.add_argument("--onnx-op", default=None, help="ONNX op type the rewrite rule anchors on (default: NAME)")
    parser.add_argument("--dir", default=None,
                        help="plugins folder to create it in (default: the plugins folder of the project run in)")
    parser.add_argument("--force", action="store_true", help="replace an existing plugin folder of that name")


def destination(given: str | None):
    """(plugins folder, its project or None). Without --dir: the project run in, else a ProjectError."""
    from pathlib import Path

    from pykit.project import ProjectError, nearest_project

    if given:
        folder = Path(given).resolve()
        project = nearest_project(folder)
        return folder, project if project is not None and project.plugins_dir == folder else None
    project = nearest_project()
    if project is None:
        raise ProjectError(f"{Path.cwd()} is not inside a plugin project (no pyproject.toml with a [tool.pykit] "
                           "table here or above); create one with `pykit init DIR` and run `pykit new` in it, "
                           "or name a plugins folder with --dir")
    return project.plugins_dir, project


def next_step(project, folder, name: str) -> str:
    """The commands that build the new plugin and run its tests, as they work from the working directory."""
    from pathlib import Path

    if project is None:
        return (f"{folder.parent} is not a project's plugins folder: build it into pykit's own "
                f"(PYKIT_BUILD_DIR) and point PYKIT_PLUGIN_PATH at {folder.parent}, or move it into a project "
                "(`pykit init DIR`)")
    cwd = Path.cwd().resolve()
    cd = "" if cwd == project.root else f"cd {shlex.quote(str(project.root))} && "
    tests = os.path.relpath(folder, project.root)
    return (f"{cd}pip install -e . && python -m pytest -q {shlex.quote(tests)} && "
            f"pykit validate --plugin {name}")


def run(args) -> int:
    from pykit import scaffold
    from pykit.project import ProjectError, templates_dir

    try:
        plugins_dir, project = destination(args.dir)
        plan = scaffold.make_plan(args.name, args.input, args.output, args.attr, args.precisions, args.onnx_op)
        folder = scaffold.create(plan, plugins_dir, force=args.force, templates=templates_dir("plugin"))
    except (scaffold.ScaffoldError, ProjectError) as exc:
        print(f"pykit new: {exc}", file=sys.stderr)
        return 2
    where = f" in project {project.name}" if project is not None else ""
    print(f"created {folder}{where} ({plan.name}, {', '.join(plan.precisions)}):")
    for rel in sorted(scaffold.outputs_for(plan)):
        print(f"  {rel}")
    print(f"next: {next_step(project, folder, plan.name)}")
    return 0
