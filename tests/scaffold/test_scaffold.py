"""pykit new: argument errors, reserved names, names and ONNX ops other plugins have, never
overwriting, all-or-nothing writes, the golden snapshot of the templates, and generated plugins
(array attributes required and defaulted) built in a temporary project by the commands `pykit new`
prints, whose generated tests then pass; their TensorRT glue compiled against the staged TensorRT
8.5 (IPluginV2DynamicExt creators) and 10 (IPluginV3 creators too) headers where present."""
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from scaffold_helpers import GOLDEN, GOLDEN_ARGS, golden_files

from pykit import scaffold
from pykit.cli.__main__ import main
from pykit.spec import load_spec

REPO = Path(scaffold.__file__).resolve().parents[1]


# ---- arguments --------------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, message", [
    (dict(name="layer_norm"), "UpperCamelCase"),
    (dict(name="1Foo"), "UpperCamelCase"),
    (dict(inputs=[]), "at least one --input"),
    (dict(inputs=["idx:int32"]), "at least one float --input"),
    (dict(inputs=["X:float"]), "lower_snake_case"),
    (dict(inputs=["x:complex"]), "kind 'complex'"),
    (dict(inputs=["class"]), "keyword"),
    (dict(inputs=["x", "x"]), "more than once"),
    (dict(outputs=["x"]), "more than once"),
    (dict(outputs=["y:int32"]), "kind 'int32'"),
    (dict(attrs=["eps"]), "NAME:TYPE"),
    (dict(attrs=["eps:double=1"]), "type 'double'"),
    (dict(attrs=["eps:float=abc"]), "'abc' is not a float"),
    (dict(attrs=["n:int=1.5"]), "is not an int"),
    (dict(attrs=["n:int=99999999999"]), "does not fit in int32"),
    (dict(attrs=["eps:float=inf"]), "not finite"),
    (dict(attrs=["plugin_version:int=1"]), "reserved"),
    (dict(attrs=["a:int=1", "a:int=2"]), "more than once"),
    (dict(attrs=["x:int=1"]), "both a tensor and an attribute"),
    (dict(precisions="fp32,bf16"), "--precisions"),
    (dict(onnx_op="Layer-Norm"), "--onnx-op"),
    (dict(attrs=["w:int[]="]), "empty array default"),
    (dict(attrs=["visit:int=1"]), "used by the generated code"),
    (dict(name="A" * 65), "at most 64"),
])
def test_bad_arguments_are_named(kwargs, message):
    args = dict(name="Foo", inputs=["x"], outputs=["y"])
    args.update(kwargs)
    with pytest.raises(scaffold.ScaffoldError, match=message):
        scaffold.make_plan(**args)


# Names whose folder (C++ namespace pykit::<id>, file prefix, reference function) would be a keyword,
# a namespace or type the generated code names, a function of the kit's headers, or a name reference.py defines.
@pytest.mark.parametrize("name, why", [
    ("Int", "keyword"), ("Class", "keyword"), ("Delete", "keyword"), ("Template", "keyword"),
    ("Namespace", "keyword"), ("True", "keyword"), ("Import", "keyword"),
    ("Std", "uses already"), ("SizeT", "uses already"), ("Int32T", "uses already"), ("Nvinfer1", "uses already"),
    ("Common", "uses already"), ("Cases", "uses already"), ("Np", "uses already"),
    ("Trt", "declared by the kit"), ("Host", "declared by the kit"), ("SelectRow", "declared by the kit"),
    ("QuantizeInt8", "declared by the kit"),
])
def test_reserved_plugin_names_are_refused(name, why):
    with pytest.raises(scaffold.ScaffoldError, match=why) as info:
        scaffold.make_plan(name, ["x"], ["y"])
    assert f"plugin name '{name}'" in str(info.value) and scaffold.snake_case(name) in str(info.value)


def test_a_name_of_64_characters_is_accepted_and_fits_the_file_system(tmp_path):
    name = "Ab" * 32  # the longest folder name a 64-character name makes: ab_ab_..._ab (95 characters)
    folder = scaffold.create(scaffold.make_plan(name, ["x"], ["y"]), tmp_path)
    assert folder.name == scaffold.snake_case(name) and (folder / f"{folder.name}_plugin.cpp").is_file()


def test_file_names_longer_than_the_file_system_allows_are_refused(tmp_path, monkeypatch):
    from pykit import spec

    # past the name limit (pykit new's and the spec loader's) only to reach the file system's
    monkeypatch.setattr(scaffold, "MAX_NAME_LENGTH", 300)
    monkeypatch.setattr(spec, "MAX_NAME_LENGTH", 300)
    with pytest.raises(scaffold.ScaffoldError, match="bytes per name"):
        scaffold.create(scaffold.make_plan("A" + "b" * 240, ["x"], ["y"]), tmp_path)
    assert not any(tmp_path.iterdir())


def test_attribute_specs_parse():
    a = scaffold.parse_attr("w:float[]=1, 2.5")
    assert (a.type, a.default, a.required) == ("float32[]", [1.0, 2.5], False)
    assert scaffold.parse_attr("n:int=0x10").default == 16
    assert scaffold.parse_attr("mode:str").required
    assert scaffold.snake_case("LayerNorm") == "layer_norm" and scaffold.snake_case("ROIAlign3D") == "roi_align3_d"


def test_existing_plugin_is_kept_without_force(tmp_path, capsys):
    argv = ["new", "Foo", "--input", "x", "--output", "y", "--dir", str(tmp_path)]
    assert main(argv) == 0
    marker = tmp_path / "foo" / "spec.toml"
    marker.write_text(marker.read_text() + "\n# mine\n")
    assert main(argv + ["--precisions", "fp32"]) == 2
    assert "pass --force" in capsys.readouterr().err and marker.read_text().endswith("# mine\n")
    assert main(argv + ["--precisions", "fp32", "--force"]) == 0
    assert load_spec(marker).precisions == ("fp32",) and "# mine" not in marker.read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["foo"]  # no temporary folders left


def test_a_plugin_name_used_by_another_folder_is_refused(tmp_path):
    scaffold.create(scaffold.make_plan("Foo", ["x"], ["y"]), tmp_path)
    (tmp_path / "foo").rename(tmp_path / "elsewhere")
    with pytest.raises(scaffold.ScaffoldError, match="already used by"):
        scaffold.create(scaffold.make_plan("Foo", ["x"], ["y"]), tmp_path)


def test_a_name_differing_only_in_case_is_refused(tmp_path):
    scaffold.create(scaffold.make_plan("FooBar", ["x"], ["y"]), tmp_path)
    with pytest.raises(scaffold.ScaffoldError, match="differs only in case from FooBar"):
        scaffold.create(scaffold.make_plan("Foobar", ["x"], ["y"]), tmp_path)
    # FOOBar maps to FooBar's folder: even --force does not replace another plugin
    with pytest.raises(scaffold.ScaffoldError, match="holds plugin FooBar"):
        scaffold.create(scaffold.make_plan("FOOBar", ["x"], ["y"]), tmp_path, force=True)
    assert load_spec(tmp_path / "foo_bar" / "spec.toml").name == "FooBar"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["foo_bar"]


@pytest.mark.parametrize("op, claimant", [
    ("LayerNormalization", "rule 'layer_norm' of plugin LayerNorm"),  # pykit's own plugins' rules
    ("ReduceMean", "rule 'layer_norm_decomposed' of plugin LayerNorm"),
    ("ScatterElements", "rule 'scatter_elements_reduce' of plugin ScatterElementsReduce"),
])
def test_an_onnx_op_claimed_by_another_plugin_is_refused(tmp_path, op, claimant):
    with pytest.raises(scaffold.ScaffoldError, match=f"--onnx-op '{op}': already claimed by {claimant}"):
        scaffold.create(scaffold.make_plan("Foo", ["x"], ["y"], onnx_op=op), tmp_path)
    assert not any(tmp_path.iterdir())


def test_an_onnx_op_claimed_in_the_same_plugins_folder_is_refused(tmp_path):
    scaffold.create(scaffold.make_plan("Foo", ["x"], ["y"], onnx_op="Celu"), tmp_path)
    with pytest.raises(scaffold.ScaffoldError, match="'Celu': already claimed by rule 'foo' of plugin Foo"):
        scaffold.create(scaffold.make_plan("Bar", ["x"], ["y"], onnx_op="Celu"), tmp_path)
    # the default anchor is the plugin's name, so a plugin named like a claimed op is told to pass --onnx-op
    with pytest.raises(scaffold.ScaffoldError, match="pass --onnx-op"):
        scaffold.create(scaffold.make_plan("Celu", ["x"], ["y"]), tmp_path)
    # replacing the plugin itself keeps its own op
    scaffold.create(scaffold.make_plan("Foo", ["x"], ["y"], precisions="fp32", onnx_op="Celu"), tmp_path, force=True)


def test_a_broken_template_writes_nothing(tmp_path):
    templates = tmp_path / "templates"
    shutil.copytree(scaffold.TEMPLATES, templates)
    (templates / "host.cpp.j2").write_text("{{ no_such_variable }}\n")
    with pytest.raises(scaffold.ScaffoldError, match="no_such_variable"):
        scaffold.create(scaffold.make_plan("Foo", ["x"], ["y"]), tmp_path / "plugins", templates=templates)
    assert not (tmp_path / "plugins").exists() or not any((tmp_path / "plugins").iterdir())


def test_a_failed_replacement_keeps_the_old_plugin(tmp_path):
    scaffold.create(scaffold.make_plan("Foo", ["x"], ["y"]), tmp_path)
    templates = tmp_path / "templates"
    shutil.copytree(scaffold.TEMPLATES, templates)
    (templates / "spec.toml.j2").write_text("name = 'broken\n")
    with pytest.raises(scaffold.ScaffoldError, match="generated spec does not load"):
        scaffold.create(scaffold.make_plan("Foo", ["x"], ["y"], precisions="fp32"), tmp_path, force=True, templates=templates)
    assert load_spec(tmp_path / "foo" / "spec.toml").precisions == ("fp32", "fp16", "int8")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["foo", "templates"]


# ---- golden snapshot --------------------------------------------------------------------------------

def test_templates_render_the_golden_snapshot():
    """A template change shows up here as a diff; if it is intended: python tests/scaffold/scaffold_helpers.py"""
    got = golden_files()
    want = {str(p.relative_to(GOLDEN))[: -len(".golden")]: p.read_text() for p in GOLDEN.rglob("*.golden")}
    assert sorted(got) == sorted(want)
    for rel in sorted(got):
        assert got[rel] == want[rel], f"{rel} differs from tests/scaffold/golden/{rel}.golden"
    assert "TODO(foo)" in got["foo_core.h"] and "PYKIT_DEFINE_CREATORS(foo," in got["foo_plugin.cpp"]


def test_generated_spec_matches_the_arguments(tmp_path):
    folder = scaffold.create(scaffold.make_plan(**GOLDEN_ARGS), tmp_path)
    spec = load_spec(folder / "spec.toml")
    assert [t.name for t in spec.inputs] == ["x", "idx"] and spec.inputs[1].dtypes["int8"] == "int32"
    assert spec.inputs[0].dtypes == {"fp32": "float32", "fp16": "float16", "int8": "int8"}
    assert [(a.name, a.type, a.required, a.default) for a in spec.attributes] == [
        ("epsilon", "float32", False, 1e-5), ("axis", "int32", False, -1), ("mode", "string", False, "fast"),
        ("n", "int32", True, None), ("weights", "float32[]", False, [1.0, 2.0]), ("dims", "int32[]", True, None),
        ("sizes", "int32[]", False, [3, 4]), ("gains", "float32[]", True, None),
        ("int8_scales", "float32[]", False, [])]  # every int8 plugin's (pykit/spec.py)


def test_generated_bench_case_loads_without_a_gpu(tmp_path):
    """bench.py as `pykit bench` loads it (torch passed in later): one BenchCase per spec precision."""
    from pykit.bench.case import BenchCase
    from pykit.registry import load_module

    folder = scaffold.create(scaffold.make_plan("BenchProbe", ["idx:int32", "x"], ["y", "z"], precisions="fp16,int8"), tmp_path)
    spec = load_spec(folder / "spec.toml")
    bench = load_module(spec, "bench")
    cases = bench.cases(list(spec.precisions))
    assert [(type(c).__mro__[1], c.plugin, c.precision) for c in cases] == [(BenchCase, "BenchProbe", p) for p in spec.precisions]
    assert [c.traffic().bytes for c in cases] == [3 * (1 << 24) * size for size in (2, 1)]  # x read, y and z written
    assert bench.SOURCE == 1 and callable(bench.launch_case)
    assert "PYKIT_REGISTER_BENCH_LAUNCHER(Attrs, bind);" in (folder / "bench.cpp").read_text()


# ---- a temporary project: generate, build, run the generated tests ---------------------------------

def _copy_project(dest: Path) -> None:
    """The kit without its plugins: CMakeLists, pykit (no build outputs), templates, plugins/common."""
    ignore = shutil.ignore_patterns("__pycache__", "*.so", "*.pyc")
    for name in ("CMakeLists.txt", "conftest.py", "pyproject.toml"):
        shutil.copy(REPO / name, dest / name)
    shutil.copytree(REPO / "pykit", dest / "pykit", ignore=ignore)
    shutil.copytree(REPO / "templates", dest / "templates", ignore=ignore)
    shutil.copytree(REPO / "plugins" / "common", dest / "plugins" / "common", ignore=ignore)


def _nvcc():
    return shutil.which("nvcc") or ("/usr/local/cuda/bin/nvcc" if os.path.exists("/usr/local/cuda/bin/nvcc") else None)


def _cmake(project: Path, build: Path, *extra: str):
    import pybind11

    args = ["cmake", "-S", str(project), "-B", str(build), f"-DPython_EXECUTABLE={sys.executable}",
            f"-Dpybind11_DIR={pybind11.get_cmake_dir()}", "-DCMAKE_BUILD_TYPE=Release",
            "-DCMAKE_CUDA_ARCHITECTURES=75-real", *extra]
    if shutil.which("ninja"):
        args += ["-G", "Ninja"]
    out = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return out.stdout


def _build(build: Path, target: str | None = None):
    args = ["cmake", "--build", str(build), "-j", str(max(2, os.cpu_count() or 2))]
    if target:
        args += ["--target", target]
    out = subprocess.run(args, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-5000:] + out.stderr[-3000:]
    return out.stdout


PROJECT_PLUGINS = {
    # array attributes required and defaulted, an int32 input, two outputs, all precisions
    "ScaffoldCheckV2": ["--input", "x:float", "--input", "idx:int32", "--output", "y", "--output", "z",
                        "--attr", "epsilon:float=1e-5", "--attr", "axis:int=-1", "--attr", "n:int",
                        "--attr", "w:float[]=1,2", "--attr", "sizes:int[]=3,4", "--attr", "dims:int[]",
                        "--attr", "gains:float[]", "--attr", "mode:str=fast", "--attr", "shape:int[]=2,3",
                        "--attr", "domain:str=d"],  # names the generated code must not trip over
    "ScaffoldCheckV3": ["--input", "a", "--input", "b", "--output", "c", "--precisions", "fp32,fp16"],
}


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    if not shutil.which("cmake"):
        pytest.skip("cmake is not installed")
    root = tmp_path_factory.mktemp("project")
    _copy_project(root)
    env = dict(os.environ, PYTHONPATH=str(root))
    for name, argv in PROJECT_PLUGINS.items():
        out = subprocess.run([sys.executable, "-m", "pykit.cli.__main__", "new", name, *argv, "--dir", str(root / "plugins")],
                             capture_output=True, text=True, env=env, cwd=root, timeout=120)
        assert out.returncode == 0, out.stderr
    return root


def test_generated_plugins_build_and_their_tests_pass(project):
    """The generated plugins in a temporary copy of the kit: built, their own tests and
    their validation pass. There pykit is still imported from this checkout (an editable install's
    import hook wins over PYTHONPATH), so PYKIT_PLUGIN_PATH shows it the copy's plugins. (What
    `pykit new` prints as the next step is run verbatim in tests/test_project.py.)"""
    env = dict(os.environ, PYTHONPATH=str(project), PYKIT_PLUGIN_PATH=str(project / "plugins"),
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    env.pop("PYKIT_BUILD_DIR", None)
    build = ['cmake -S . -B build/dev -Dpybind11_DIR="$(python -c "import pybind11; print(pybind11.get_cmake_dir())")"',
             "cmake --build build/dev -j 2"]
    logs = ""
    for name in PROJECT_PLUGINS:
        folder = f"plugins/{scaffold.snake_case(name)}"
        steps = build + [f"PYKIT_BUILD_DIR=build/dev python -m pytest -q {folder}",
                         f"PYKIT_BUILD_DIR=build/dev pykit validate --backend host --plugin {name}"]
        out = subprocess.run(["bash", "-ec", "\n".join(steps)], capture_output=True, text=True, env=env, cwd=project,
                             timeout=900)
        assert out.returncode == 0, out.stdout[-5000:] + out.stderr[-3000:]
        # bash -e stops at the first failing command; pytest ran tests, validate checked every case
        assert re.search(r"^\d+ passed", out.stdout, re.M) and re.search(r"\d+ passed, 0 failed", out.stdout), out.stdout[-3000:]
        logs += out.stdout
    assert all(f"plugins/{scaffold.snake_case(name)}/host.cpp" in logs for name in PROJECT_PLUGINS)  # built by them


def _headers(env_name: str, staged: str, major: int) -> Path:
    include = Path(os.environ.get(env_name) or REPO / staged / "include")
    version = include / "NvInferVersion.h"
    if not version.is_file():
        pytest.skip(f"no TensorRT {major} headers at {include} (stage them there or set {env_name}); "
                    f"the {'IPluginV3' if major >= 10 else 'IPluginV2DynamicExt'} glue was NOT compile-checked")
    return include


@pytest.mark.parametrize("major, env_name, staged", [(8, "PYKIT_TRT8_INCLUDE", ".trt"), (10, "PYKIT_TRT10_INCLUDE", ".trt10")])
def test_glue_compiles_against_tensorrt_headers(project, major, env_name, staged):
    """The generated glue, one body, against TensorRT 8.5 headers (its IPluginV2DynamicExt creator) and
    TensorRT 10 (its IPluginV3 creator too; headers only: compiled, not linked)."""
    include = _headers(env_name, staged, major)
    if not _nvcc():
        pytest.skip("no nvcc: CMake compiles the TensorRT glue only with the CUDA toolkit")
    root = project / f"trt{major}"
    root.mkdir(exist_ok=True)
    (root / "include").exists() or (root / "include").symlink_to(include)
    log = _cmake(project, project / f"build-trt{major}", f"-DTENSORRT_ROOT={root}")
    assert "compile check of the glue only" in log
    out = _build(project / f"build-trt{major}", "pykit_plugins")
    assert "scaffold_check_v2_plugin.cpp" in out and "scaffold_check_v3_plugin.cpp" in out and "library.cpp" in out
    assert ("glue with IPluginV3 creators" if major >= 10 else "glue with IPluginV2DynamicExt creators") in log
