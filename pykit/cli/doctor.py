"""Report the environment: Python and packages, CUDA, GPU, TensorRT, host backend, plugin library."""
from __future__ import annotations

import ctypes
import os
import platform
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path


def add_arguments(parser) -> None:
    parser.add_argument("--library", metavar="PATH", help="plugin library to check (default: search)")


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _nvcc() -> str:
    nvcc = shutil.which("nvcc") or ("/usr/local/cuda/bin/nvcc" if os.path.exists("/usr/local/cuda/bin/nvcc") else None)
    if not nvcc:
        return "not found"
    try:
        out = subprocess.run([nvcc, "--version"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{nvcc} (failed: {exc})"
    release = [line for line in out.splitlines() if "release" in line]
    return f"{release[-1].strip() if release else out.strip()} ({nvcc})"


def _gpu() -> str:
    from pykit.extensions import cuda_runtime

    runtime = cuda_runtime()
    if runtime is None:
        return "unknown (cuda-python not installed)"
    try:
        err, count = runtime.cudaGetDeviceCount()
    except Exception as exc:  # no driver library at all
        return f"none ({exc})"
    if int(err) != 0 or count == 0:
        return f"none ({runtime.cudaGetErrorString(err)[1].decode() if int(err) else 'no device'})"
    names = []
    for i in range(count):
        err, prop = runtime.cudaGetDeviceProperties(i)
        names.append(f"{prop.name.decode()} (sm_{prop.major}{prop.minor})")
    _, driver = runtime.cudaDriverGetVersion()
    return f"{', '.join(names)}; driver CUDA {driver // 1000}.{driver % 1000 // 10}"


def tensorrt_library() -> tuple[str | None, str]:
    """(version, path) of the libnvinfer this process can load, TENSORRT_ROOT first."""
    candidates = []
    root = os.environ.get("TENSORRT_ROOT")
    if root:
        candidates += sorted(Path(root, "lib").glob("libnvinfer.so*"))
    candidates += ["libnvinfer.so", "libnvinfer.so.10", "libnvinfer.so.8"]
    for cand in candidates:
        try:
            lib = ctypes.CDLL(str(cand), mode=ctypes.RTLD_GLOBAL)
        except OSError:
            continue
        v = lib.getInferLibVersion()
        major, minor, patch = (v // 10000, v // 100 % 100, v % 100) if v >= 10000 else (v // 1000, v // 100 % 10, v % 100)
        return f"{major}.{minor}.{patch}", str(cand)
    return None, "not found (set TENSORRT_ROOT and LD_LIBRARY_PATH)"


def run(args) -> int:
    from pykit import registry

    rows = [
        ("python", f"{platform.python_version()} ({platform.machine()})"),
        ("pykit", f"{_version('pykit')} at {Path(__file__).resolve().parents[1]}"),
    ]
    rows += [(p, _version(p)) for p in ("numpy", "onnx", "onnx-graphsurgeon", "onnxruntime", "cuda-python")]
    rows.append(("nvcc", _nvcc()))
    rows.append(("gpu", _gpu()))
    version, where = tensorrt_library()
    rows.append(("tensorrt", f"{version} ({where})" if version else where))
    notes = []
    try:
        from pykit.backends.host import host_module

        _host = host_module()
        rows.append(("host backend", f"built: {', '.join(_host.plugins())} ({_host.__file__})"))
        host_ok = True
    except ImportError as exc:
        rows.append(("host backend", f"NOT BUILT ({exc}); run: pip install -e ."))
        host_ok = False
    specs = None
    try:
        for project in registry.projects():
            rows.append(("project", str(project)))
            if not project.is_pykit:
                try:
                    module = project.host_module()
                    rows.append(("  host module", f"{project.host_module_name}: {', '.join(module.plugins()) or 'no plugins'}"))
                except ImportError as exc:
                    rows.append(("  host module", f"NOT BUILT: {exc}"))
        for problem in registry.project_problems():
            rows.append(("project", f"SKIPPED: {problem}"))
        specs = registry.require_plugins()
        rows.append(("plugin specs", ", ".join(f"{s.name} v{s.version}" for s in specs)))
    except registry.NoPluginsError as exc:
        rows.append(("plugin specs", "NONE"))
        notes.append(str(exc))
    except Exception as exc:
        rows.append(("plugin specs", f"ERROR: {exc}"))

    problems = []
    libraries = {}
    if specs is not None:
        libraries = registry.project_libraries()
    for project, lib in libraries.items():
        if project.is_pykit and args.library:
            lib = args.library
        key = "plugin library" if project.is_pykit else f"plugin library ({project.name})"
        if lib is None:
            rows.append((key, f"{project.library_name} not built (needs TensorRT headers and libnvinfer at build time)"))
        elif not version:
            rows.append((key, f"{lib} (not loaded: TensorRT libraries not found)"))
        else:
            try:
                path, mine = registry.check_library(specs, lib, project)
                problems += mine
                manifest = registry.library_manifest(path)
                creators = ", ".join(f"{c['namespace']}::{c['name']} v{c['version']}" for c in manifest["creators"])
                rows.append((key, f"{path}: {creators or 'no creators'}"))
            except registry.RegistryError as exc:
                rows.append((key, f"ERROR: {exc}"))
                problems.append(exc)
    loaded = {str(p): registry.library_manifest(p) for p in libraries.values() if p is not None and version}
    try:
        problems += registry.diagnose_clashes(loaded)
    except registry.RegistryError as exc:
        problems.append(exc)
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key.ljust(width)}  {value}")
    for p in problems:
        print(f"problem: {p}")
    for note in notes:
        print(f"pykit doctor: {note}", file=sys.stderr)
    if notes:
        return 2
    return 0 if host_ok and specs is not None and not problems else 1
