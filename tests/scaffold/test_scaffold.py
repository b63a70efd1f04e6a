"""pykit new: argument errors, never overwriting, all-or-nothing writes, the golden snapshot of the
templates, and a generated plugin built in a temporary project whose generated tests then pass;
its TensorRT glue compiled against the staged TensorRT 8.5 (v2) and 10 (v3) headers where present."""
import os
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
    (dict(api="v4"), "--api"),
    (dict(onnx_op="Layer-Norm"), "--onnx-op"),
])
def test_bad_arguments_are_named(kwargs, message):
    args = dict(name="Foo", inputs=["x"], outputs=["y"])
    args.update(kwargs)
    with pytest.raises(scaffold.ScaffoldError, match=message):
        scaffold.make_plan(**args)


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
    assert "TODO(foo)" in got["v2/foo_core.h"] and "IPluginV3" in got["v3/foo_plugin_v3.cpp"]


def test_generated_spec_matches_the_arguments(tmp_path):
    folder = scaffold.create(scaffold.make_plan(**GOLDEN_ARGS), tmp_path)
    spec = load_spec(folder / "spec.toml")
    assert [t.name for t in spec.inputs] == ["x", "idx"] and spec.inputs[1].dtypes["int8"] == "int32"
    assert spec.inputs[0].dtypes == {"fp32": "float32", "fp16": "float16", "int8": "int8"}
    assert [(a.name, a.type, a.required, a.default) for a in spec.attributes] == [
        ("epsilon", "float32", False, 1e-5), ("axis", "int32", False, -1), ("mode", "string", False, "fast"),
        ("n", "int32", True, None), ("weights", "float32[]", False, [1.0, 2.0])]


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


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    if not shutil.which("cmake"):
        pytest.skip("cmake is not installed")
    root = tmp_path_factory.mktemp("project")
    _copy_project(root)
    env = dict(os.environ, PYTHONPATH=str(root))
    for argv in (["ScaffoldCheckV2", "--input", "x:float", "--input", "idx:int32", "--output", "y", "--output", "z",
                  "--attr", "epsilon:float=1e-5", "--attr", "axis:int=-1", "--attr", "n:int", "--attr", "w:float[]=1,2"],
                 ["ScaffoldCheckV3", "--input", "a", "--input", "b", "--output", "c", "--precisions", "fp32,fp16", "--api", "v3"]):
        out = subprocess.run([sys.executable, "-m", "pykit.cli.__main__", "new", *argv, "--dir", str(root / "plugins")],
                             capture_output=True, text=True, env=env, cwd=root, timeout=120)
        assert out.returncode == 0, out.stderr
    return root


def test_generated_plugins_build_and_their_tests_pass(project):
    build = project / "build-host"
    # The CUDA launchers are compiled too where nvcc exists (one architecture: a compile check).
    _cmake(project, build, f"-DPYKIT_CUDA={'ON' if _nvcc() else 'OFF'}", "-DTENSORRT_ROOT=/nonexistent")
    log = _build(build)
    assert "host.cpp" in log and "scaffold_check_v2" in log and "scaffold_check_v3" in log
    if _nvcc():
        assert "scaffold_check_v2_kernel.cu" in log and "scaffold_check_v3_kernel.cu" in log
    env = dict(os.environ, PYKIT_BUILD_DIR=str(build), PYKIT_PLUGIN_PATH=str(project / "plugins"))
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "plugins/scaffold_check_v2", "plugins/scaffold_check_v3"],
                         capture_output=True, text=True, env=env, cwd=project, timeout=300)
    assert out.returncode == 0, out.stdout[-5000:] + out.stderr[-2000:]
    assert " passed" in out.stdout and "failed" not in out.stdout
    out = subprocess.run([sys.executable, "-m", "pykit.cli.__main__", "validate", "--plugin", "ScaffoldCheckV2", "--plugin", "ScaffoldCheckV3",
                          "--no-progress"], capture_output=True, text=True, env=env, cwd=project, timeout=300)
    assert out.returncode == 0 and "FAIL" not in out.stdout, out.stdout + out.stderr


def _headers(env_name: str, staged: str, major: int) -> Path:
    include = Path(os.environ.get(env_name) or REPO / staged / "include")
    version = include / "NvInferVersion.h"
    if not version.is_file():
        pytest.skip(f"no TensorRT {major} headers at {include} (stage them there or set {env_name}); "
                    f"the {'IPluginV3' if major >= 10 else 'IPluginV2DynamicExt'} glue was NOT compile-checked")
    return include


@pytest.mark.parametrize("major, env_name, staged", [(8, "PYKIT_TRT8_INCLUDE", ".trt"), (10, "PYKIT_TRT10_INCLUDE", ".trt10")])
def test_glue_compiles_against_tensorrt_headers(project, major, env_name, staged):
    """v2 glue against TensorRT 8.5 headers; v3 glue (IPluginV3) against TensorRT 10 (headers only:
    compiled, not linked). CMake leaves v3 glue out below TensorRT 10 and says so."""
    include = _headers(env_name, staged, major)
    if not _nvcc():
        pytest.skip("no nvcc: CMake compiles the TensorRT glue only with the CUDA toolkit")
    root = project / f"trt{major}"
    root.mkdir(exist_ok=True)
    (root / "include").exists() or (root / "include").symlink_to(include)
    log = _cmake(project, project / f"build-trt{major}", f"-DTENSORRT_ROOT={root}")
    assert "compile check of the glue only" in log
    out = _build(project / f"build-trt{major}", "pykit_plugins")
    assert "scaffold_check_v2_plugin.cpp" in out and "library.cpp" in out
    if major >= 10:
        assert "scaffold_check_v3_plugin_v3.cpp" in out
    else:
        assert "scaffold_check_v3_plugin_v3.cpp" not in out and "IPluginV3 glue NOT compiled" in log
