"""pykit command line. Each subcommand lives in its own module that defines
``add_arguments(parser)`` and ``run(args) -> int``; the first line of its docstring is its help."""
from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS = {
    "init": "pykit.cli.init",
    "doctor": "pykit.cli.doctor",
    "list": "pykit.cli.list_plugins",
    "validate": "pykit.cli.validate",
    "calibrate": "pykit.cli.calibrate",
    "inspect": "pykit.cli.inspect",
    "patch": "pykit.cli.patch",
    "lint": "pykit.cli.lint",
    "equiv": "pykit.cli.equiv",
    "demo": "pykit.cli.demo",
    "new": "pykit.cli.new",
    "bench": "pykit.cli.bench",
}
# Commands that work on plugin specs: with none found they say so and why (exit 2) instead of
# printing an empty result. (doctor reports it in its table; new needs a project, not plugins.)
NEED_PLUGINS = {"list", "validate", "inspect", "patch", "lint", "equiv", "demo", "bench"}


def cmake_dir() -> str:
    """The CMake package (find_package(pykit CONFIG)): pykitConfig.cmake and pykit_add_plugins."""
    from pathlib import Path

    return str(Path(__file__).resolve().parents[1] / "cmake")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pykit", description="Development kit for TensorRT plugins.")
    parser.add_argument("--cmake-dir", action="store_true",
                        help="print the folder of pykit's CMake package (for -Dpykit_DIR) and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module_name in COMMANDS.items():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:  # a command whose module is not in this checkout
                continue
            raise
        help_line = (module.__doc__ or "").strip().splitlines()[0] if module.__doc__ else ""
        p = sub.add_parser(name, help=help_line, description=(module.__doc__ or "").strip())
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.cmake_dir:
        print(cmake_dir())
        return 0
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    try:
        if args.command in NEED_PLUGINS:
            from pykit import registry
            from pykit.project import ProjectError
            from pykit.spec import SpecError

            try:
                registry.require_plugins()
            except (registry.RegistryError, SpecError, ProjectError) as exc:
                print(f"pykit {args.command}: {exc}", file=sys.stderr)
                return 2
        return int(args._run(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
