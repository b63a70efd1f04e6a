"""The real libpykit_plugins.so against the specs, where TensorRT's libnvinfer can be loaded (no GPU
needed: creators register on load). Elsewhere these tests skip and say why."""

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


def test_second_copy_and_missing_library_are_diagnosed():
    """Loading the library again under another path: TensorRT keeps the first creators, and the
    second copy's manifest says its creators are not the registered ones (kinds == {'unregistered'});
    a path that does not exist is named in the error. The same checks the TensorRT report runs."""
    _library_or_skip()
    from pykit.lifecycle import check_library

    checks = {c.check: c for c in check_library()}
    assert checks["loaded twice"].passed, checks["loaded twice"].detail
    assert checks["loaded twice"].detail == "second copy diagnosed: ['unregistered']"
    assert checks["missing"].passed, checks["missing"].detail
