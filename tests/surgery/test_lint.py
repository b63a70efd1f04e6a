import pytest
from surgery_helpers import T, h, plugin_model, plugin_node

from pykit.surgeon.lint import lint_model
from pykit.surgeon.models import plugin_models
from pykit.surgeon.patch import patch_model

pointpillars_like = plugin_models("PillarScatter").pointpillars_like
scatter_reduce_model = plugin_models("ScatterElementsReduce").scatter_reduce_model


def kinds(node):
    errors, checked = lint_model(plugin_model(node))
    assert checked == 1
    return {(e.kind, e.attribute) for e in errors}, errors


def test_patched_demo_models_are_clean():
    # the demo's pillar scatter (reduction none) imports natively in TensorRT 8.5: the demo forces its rewrite
    for m, force in ((pointpillars_like(reduction="none"), ["ScatterND"]), (scatter_reduce_model(), [])):
        errors, checked = lint_model(patch_model(m, trt="8.5", force=force).model)
        assert checked == 1 and errors == []
    assert kinds(plugin_node())[0] == set()


@pytest.mark.parametrize("node,expected", [
    (h.make_node("NoSuchPlugin", ["f", "c", "n"], ["y"], name="ps", domain="trt.plugins", plugin_version="1",
                 plugin_namespace="pykit"), ("unknown-plugin", "")),
    (plugin_node(plugin_version="2"), ("unknown-plugin", "plugin_version")),
    (plugin_node(plugin_namespace="other"), ("unknown-plugin", "plugin_namespace")),
    (plugin_node(nx=None), ("missing-attribute", "nx")),
    (plugin_node(colour="red"), ("dropped-attribute", "colour")),
    (plugin_node(nx=2**31), ("int32-overflow", "nx")),
    (plugin_node(extra_ints=[1, -(2**31) - 1]), ("int32-overflow", "extra_ints")),
    (plugin_node(mask=h.make_tensor("m", T.INT64, [2], [1, 2])), ("tensor-attribute-dtype", "mask")),
    (plugin_node(flags=h.make_tensor("b", T.BOOL, [1], [True])), ("tensor-attribute-dtype", "flags")),
    (plugin_node(raw=h.make_tensor("u", T.UINT8, [1], [3])), ("tensor-attribute-dtype", "raw")),
    (plugin_node(plugin_version=None), ("missing-plugin-version", "plugin_version")),
    (plugin_node(plugin_namespace=None), ("missing-plugin-namespace", "plugin_namespace")),
    (plugin_node(nx=8.0), ("attribute-type", "nx")),
    (plugin_node(ny=0), ("attribute-value", "ny")),
    (h.make_node("ScatterND", ["f", "c", "n"], ["y"], name="ps", domain="trt.plugins", plugin_version="1",
                 plugin_namespace="pykit"), ("builtin-collision", "")),
], ids=lambda x: x[0] if isinstance(x, tuple) else "")
def test_each_error_kind_names_node_and_attribute(node, expected):
    found, errors = kinds(node)
    assert expected in found, errors
    e = next(e for e in errors if (e.kind, e.attribute) == expected)
    assert "'ps'" in str(e) and (not expected[1] or f"'{expected[1]}'" in str(e))


def test_cli_exit_codes(tmp_path):
    import subprocess
    import sys

    from surgery_helpers import save

    good = save(patch_model(pointpillars_like(reduction="none")).model, tmp_path / "good.onnx")
    bad = save(plugin_model(plugin_node(nx=2**40)), tmp_path / "bad.onnx")
    run = lambda p: subprocess.run([sys.executable, "-m", "pykit.cli", "lint", p], capture_output=True, text=True)  # noqa: E731
    assert run(good).returncode == 0
    p = run(bad)
    assert p.returncode == 1 and "int32-overflow: node 'ps' (PillarScatter) attribute 'nx'" in p.stdout
