"""The plugin-node contract of each TensorRT parser (issue #13 item 8): what `patch --trt` emits is
what that parser's plugin lookup needs, and `lint --trt` reports what it would not find."""
import pytest
from surgery_helpers import plugin_model, plugin_node

from pykit import registry
from pykit.surgeon.lint import lint_model
from pykit.surgeon.models import plugin_models
from pykit.surgeon.patch import patch_model

pointpillars_like = plugin_models("PillarScatter").pointpillars_like
scatter_reduce_model = plugin_models("ScatterElementsReduce").scatter_reduce_model
TRTS = ("8.5", "10", "11")


def contract(model, trt):
    errors, checked = lint_model(model, trt)
    assert checked >= 1
    return [e for e in errors if e.kind == "plugin-not-found"], errors


@pytest.mark.parametrize("trt", TRTS)
def test_patched_demo_models_carry_the_parsers_lookup_keys_and_lint_clean(trt):
    for m, force in ((pointpillars_like(reduction="none"), ["ScatterND"]), (scatter_reduce_model(), [])):
        patched = patch_model(m, trt=trt, force=force).model
        plugins = [n for n in patched.graph.node if n.domain == "trt.plugins"]
        assert plugins
        for n in plugins:
            spec = registry.get(n.op_type)
            attrs = {a.name: a for a in n.attribute}
            assert attrs["plugin_version"].s.decode() == spec.version
            assert attrs["plugin_namespace"].s.decode() == spec.namespace
        errors, _ = lint_model(patched, trt)
        assert errors == [], [str(e) for e in errors]


@pytest.mark.parametrize("trt", TRTS + ("10.15",))
def test_missing_namespace_is_a_finding_for_every_parser_with_a_non_empty_namespace(trt):
    # 8.5's fallback importer does not require the attribute, but defaults it to "" and so looks up
    # (PillarScatter, "1", "") — not the creator registered in namespace "pykit"; 10.x does not take
    # the node as a plugin at all without it, and the node's domain (trt.plugins) is not "pykit" either
    assert registry.get("PillarScatter").namespace != ""
    found, _ = contract(plugin_model(plugin_node(plugin_namespace=None)), trt)
    assert [(e.node, e.attribute) for e in found] == [("ps", "plugin_namespace")]
    assert f"TensorRT {trt}'s parser will not find plugin PillarScatter" in str(found[0])


def test_domain_supplies_the_namespace_only_from_10_10():
    ns = registry.get("PillarScatter").namespace
    node = plugin_node(plugin_namespace=None)
    node.domain = ns
    assert contract(plugin_model(node), "10.15")[0] == []
    assert [e.attribute for e in contract(plugin_model(node), "10")[0]] == ["plugin_namespace"]
    assert [e.attribute for e in contract(plugin_model(node), "8.5")[0]] == ["plugin_namespace"]


@pytest.mark.parametrize("trt", TRTS)
def test_wrong_version_or_namespace_is_a_finding_for_every_parser(trt):
    for attr, value in (("plugin_version", "2"), ("plugin_namespace", "other")):
        found, _ = contract(plugin_model(plugin_node(**{attr: value})), trt)
        assert [(e.node, e.attribute) for e in found] == [("ps", attr)]
        assert f"'{value}'" in found[0].message and "will not find plugin PillarScatter" in found[0].message


@pytest.mark.parametrize("trt", TRTS)
def test_absent_version_is_looked_up_as_1(trt):
    assert registry.get("PillarScatter").version == "1"
    assert contract(plugin_model(plugin_node(plugin_version=None)), trt)[0] == []


def test_without_trt_lint_keeps_its_version_independent_checks():
    errors, _ = lint_model(plugin_model(plugin_node(plugin_namespace=None)))
    assert [e.kind for e in errors] == ["missing-plugin-namespace"]


def test_cli_trt(tmp_path):
    import subprocess
    import sys

    from surgery_helpers import save

    bad = save(plugin_model(plugin_node(plugin_namespace=None)), tmp_path / "bad.onnx")
    run = lambda *a: subprocess.run([sys.executable, "-m", "pykit.cli", "lint", *a], capture_output=True, text=True)  # noqa: E731
    p = run(bad, "--trt", "11")
    assert p.returncode == 1 and "plugin-not-found: node 'ps' (PillarScatter) attribute 'plugin_namespace'" in p.stdout
    assert "TensorRT 11's parser will not find plugin PillarScatter" in p.stdout
    p = run(bad, "--trt", "9")
    assert p.returncode == 2 and "'9'" in p.stderr
