"""pykit.docs: the generated README blocks are written from the spec, refreshed in place (text
outside the markers kept), and reported when stale."""
import dataclasses
import shutil

import pytest

from pykit import docs, registry


@pytest.fixture
def plugin_copy(tmp_path):
    """PillarScatter's spec pointing at a copy of its folder, README removed."""
    spec = registry.get("PillarScatter")
    folder = tmp_path / spec.snake
    shutil.copytree(spec.folder, folder, ignore=shutil.ignore_patterns("tests", "__pycache__", "README.md"))
    return dataclasses.replace(spec, folder=folder)


def test_block_lists_every_tensor_and_attribute_of_the_spec(plugin_copy):
    block = docs.plugin_block(plugin_copy)
    assert block.startswith(docs.BEGIN) and block.endswith(docs.END)
    for t in plugin_copy.inputs + plugin_copy.outputs:
        assert f"| `{t.name}` |" in block
    for a in plugin_copy.attributes:
        assert f"| `{a.name}` | {a.type} |" in block
    for p in plugin_copy.precisions:
        assert f"| {p} |" in block


def test_missing_readme_gets_one_and_a_refresh_keeps_the_authors_text(plugin_copy):
    readme = plugin_copy.folder / "README.md"
    new = docs.updates([plugin_copy], None)
    assert list(new) == [readme] and docs.plugin_block(plugin_copy) in new[readme]
    readme.write_text("## PillarScatter\n\nBy hand.\n\n" + docs.BEGIN + "\nold tables\n" + docs.END + "\n\nAfter.\n")
    text = docs.updates([plugin_copy], None)[readme]
    assert text.startswith("## PillarScatter\n\nBy hand.\n\n") and text.endswith("\n\nAfter.\n")
    assert "old tables" not in text and docs.plugin_block(plugin_copy) in text
    readme.write_text(text)
    assert docs.updates([plugin_copy], None) == {}  # fresh now


def test_a_spec_change_makes_the_block_stale(plugin_copy):
    readme = plugin_copy.folder / "README.md"
    readme.write_text(docs.updates([plugin_copy], None)[readme])
    changed = dataclasses.replace(plugin_copy, summary="something else")
    assert list(docs.updates([changed], None)) == [readme]


def test_an_unclosed_block_is_refused(plugin_copy):
    (plugin_copy.folder / "README.md").write_text(docs.BEGIN + "\nno end\n")
    with pytest.raises(ValueError, match="README.md: .* has no"):
        docs.updates([plugin_copy], None)


def test_check_passes_on_this_tree(capsys):
    assert docs.main(["--check"]) == 0, capsys.readouterr().out
