"""Registry: discovery, entry points, and the diagnosis of a plugin library against the specs."""
import shutil

import pytest

from pykit import registry
from pykit.spec import SpecError


def manifest_for(specs, **override):
    """A manifest as libpykit_plugins.so would report it for these specs, with one creator changed."""
    creators = []
    for s in specs:
        c = {"name": s.name, "version": s.version, "namespace": s.namespace, "registered": True,
             "fields": [{"name": a.name, "type": registry.FIELD_TYPES[a.type], "length": 1} for a in s.attributes]}
        if s.name == override.get("plugin"):
            c.update({k: v for k, v in override.items() if k != "plugin"})
        creators.append(c)
    return {"tensorrt": 8503, "creators": creators}


@pytest.fixture(scope="module")
def specs():
    return registry.discover()


def test_discovers_pillar_scatter(specs):
    spec = next(s for s in specs if s.name == "PillarScatter")
    assert spec.folder.name == "pillar_scatter"
    assert callable(registry.entry_point(spec, "reference"))
    assert registry.get("PillarScatter").key == ("PillarScatter", "1", "pykit")


def test_unknown_plugin_is_named():
    with pytest.raises(registry.RegistryError, match="no plugin named 'Nope'"):
        registry.get("Nope")


def test_duplicate_plugin_names_are_refused(tmp_path):
    src = registry.get("PillarScatter").folder
    for copy in ("a", "b"):
        shutil.copytree(src, tmp_path / copy)
    with pytest.raises(SpecError, match="already used by"):
        registry.discover([tmp_path])


def test_matching_library_has_no_problems(specs):
    assert registry.diagnose(specs, manifest_for(specs)) == []


def test_missing_plugin(specs):
    manifest = manifest_for(specs)
    manifest["creators"] = [c for c in manifest["creators"] if c["name"] != "PillarScatter"]
    problems = registry.diagnose(specs, manifest, "lib.so")
    assert [(p.plugin, p.kind) for p in problems] == [("PillarScatter", "missing")]
    assert "lib.so has no creator named 'PillarScatter'" in str(problems[0])


def test_wrong_version(specs):
    problems = registry.diagnose(specs, manifest_for(specs, plugin="PillarScatter", version="2"))
    assert [(p.plugin, p.kind) for p in problems] == [("PillarScatter", "version")]
    assert "['2']" in problems[0].message and "'1'" in problems[0].message


def test_wrong_namespace(specs):
    problems = registry.diagnose(specs, manifest_for(specs, plugin="PillarScatter", namespace=""))
    assert [(p.plugin, p.kind) for p in problems] == [("PillarScatter", "namespace")]
    assert "'pykit'" in problems[0].message


def test_unregistered_creator(specs):
    problems = registry.diagnose(specs, manifest_for(specs, plugin="PillarScatter", registered=False))
    assert [(p.plugin, p.kind) for p in problems] == [("PillarScatter", "unregistered")]


@pytest.mark.parametrize(
    "fields, expect",
    [
        ([("nx", "int32"), ("ny", "int32"), ("int8_scales", "float32")], "missing fields ['batch_size']"),
        ([("nx", "int32"), ("ny", "int32"), ("batch_size", "int32"), ("int8_scales", "float32"), ("extra", "float32")],
         "fields not in the spec ['extra']"),
        ([("nx", "float32"), ("ny", "int32"), ("batch_size", "int32"), ("int8_scales", "float32")],
         "type mismatch ['nx (float32 vs spec int32)']"),
        ([("ny", "int32"), ("nx", "int32"), ("batch_size", "int32"), ("int8_scales", "float32")], "field order"),
    ],
)
def test_field_mismatch(specs, fields, expect):
    manifest = manifest_for(specs, plugin="PillarScatter",
                            fields=[{"name": n, "type": t, "length": 1} for n, t in fields])
    problems = registry.diagnose(specs, manifest)
    assert [(p.plugin, p.kind) for p in problems] == [("PillarScatter", "fields")]
    assert expect in problems[0].message


def test_creator_without_spec(specs):
    manifest = manifest_for(specs)
    manifest["creators"].append({"name": "Stray", "version": "1", "namespace": "pykit", "registered": True,
                                 "fields": []})
    assert [(p.plugin, p.kind) for p in registry.diagnose(specs, manifest)] == [("Stray", "unspecified")]


def test_missing_library_file_is_diagnosed(tmp_path):
    with pytest.raises(registry.RegistryError, match="does not exist"):
        registry.load_library(str(tmp_path / "libpykit_plugins.so"))


def test_library_that_is_not_a_library(tmp_path):
    bogus = tmp_path / "libpykit_plugins.so"
    bogus.write_text("not an ELF file")
    with pytest.raises(registry.RegistryError, match="could not be loaded"):
        registry.load_library(str(bogus))


def test_search_order_prefers_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("PYKIT_PLUGIN_LIBRARY", str(tmp_path / "x.so"))
    assert registry.library_candidates()[0] == tmp_path / "x.so"


def test_a_projects_library_is_its_own_file_looked_for_in_its_build(tmp_path):
    from pykit.project import Project

    project = Project("x", tmp_path / "plugins", "x", tmp_path, "test")
    (tmp_path / "build" / "tag").mkdir(parents=True)
    with pytest.raises(registry.RegistryError, match=r"no libx_plugins\.so found"):
        registry.check_library([], None, project)
    built = tmp_path / "build" / "tag" / "libx_plugins.so"
    built.write_text("")
    assert project.find_library() == built


def test_each_library_is_diagnosed_against_its_own_projects_specs(tmp_path, monkeypatch):
    """pykit's library carries pykit's plugins only: another project's plugin is not 'missing' from it."""
    src = registry.get("PillarScatter").folder
    shutil.copytree(src, tmp_path / "plugins" / "copy")
    (tmp_path / "plugins" / "copy" / "spec.toml").write_text(
        (src / "spec.toml").read_text().replace('"PillarScatter"', '"PillarCopy"', 1))
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "other"\n\n[tool.pykit]\n')
    monkeypatch.chdir(tmp_path)
    every = registry.discover()
    own = registry.specs_of(registry.own_project(), every)
    assert "PillarCopy" in {s.name for s in every} and "PillarCopy" not in {s.name for s in own}
    assert registry.diagnose(own, manifest_for(own)) == []
    problems = registry.diagnose(every, manifest_for(own))
    assert {(p.plugin, p.kind) for p in problems} == {(s.name, "missing") for s in every if s not in own}
