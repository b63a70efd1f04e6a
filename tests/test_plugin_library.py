"""The real libpykit_plugins.so against the specs, where TensorRT's libnvinfer can be loaded (no GPU
needed: creators register on load). Elsewhere these tests skip and say why."""
import shutil
import subprocess
import sys
import textwrap

import pytest

from pykit import registry


def _library_or_skip():
    path = registry.find_library()
    if path is None:
        pytest.skip("no libpykit_plugins.so built (needs TensorRT headers and libnvinfer at build time)")
    try:
        registry.load_library(str(path))
    except registry.RegistryError as exc:
        pytest.skip(f"plugin library present but not loadable here: {exc}")
    return path


def test_library_registers_exactly_the_specs():
    path = _library_or_skip()
    manifest = registry.library_manifest(path)
    assert {c["name"] for c in manifest["creators"]} == {s.name for s in registry.discover()}
    assert registry.diagnose(registry.discover(), manifest, str(path)) == []


def test_second_copy_of_the_library_is_diagnosed(tmp_path):
    """Loading the library again under another path: TensorRT keeps the first creators, and the
    second copy's manifest says its creators are not the registered ones."""
    path = _library_or_skip()
    copy = tmp_path / "libpykit_plugins.so"
    shutil.copy(path, copy)
    script = textwrap.dedent(f"""
        from pykit import registry
        specs = registry.discover()
        registry.library_manifest({str(path)!r})
        print("\\n".join(str(p) for p in registry.diagnose(specs, registry.library_manifest({str(copy)!r}))))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    kinds = {line.split(": ")[1] for line in out.stdout.splitlines() if line}
    assert kinds == {"unregistered"}
