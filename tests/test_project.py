"""Plugin projects outside pykit: `pykit init`, `pykit new` writing into the project it runs in, the
projects the registry knows, clashes between projects and between plugin libraries, every command
saying why when no plugin spec is found, and (slow) the whole user path from a wheel install in a
fresh virtual environment: init, new, pip install -e ., pytest, validate, list, demo, and the
project's TensorRT glue compiled against the staged headers."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pykit import project as project_mod
from pykit import registry
from pykit.cli import init as init_cli
from pykit.cli.__main__ import main
from pykit.spec import SpecError

REPO = Path(__file__).resolve().parents[1]


def pykit_cli(*args, cwd=None, env=None):
    return subprocess.run([sys.executable, "-m", "pykit", *args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=300)


# ---- the CMake package -------------------------------------------------------------------------


def test_cmake_dir_is_printed_by_both_entry_points():
    by_module = pykit_cli("--cmake-dir")
    assert by_module.returncode == 0, by_module.stderr
    folder = Path(by_module.stdout.strip())
    assert (folder / "pykitConfig.cmake").is_file() and (folder / "pykit_plugins.cmake").is_file()
    pykit_exe = Path(sys.executable).parent / "pykit"
    if pykit_exe.is_file():
        assert subprocess.run([str(pykit_exe), "--cmake-dir"], capture_output=True, text=True).stdout.strip() == str(folder)


# ---- pykit init ----------------------------------------------------------------------------------


def test_init_creates_a_project_that_pykit_recognises(tmp_path):
    dest = tmp_path / "my-plugins"
    assert main(["init", str(dest)]) == 0
    names = {p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file()}
    assert {"pyproject.toml", "CMakeLists.txt", "README.md", ".gitignore", "conftest.py", "plugins/README.md",
            "my_plugins/__init__.py", "tests/test_plugins.py"} <= names
    found = project_mod.nearest_project(dest / "plugins")
    assert (found.package, found.plugins_dir, found.root) == ("my_plugins", (dest / "plugins").resolve(), dest.resolve())
    pyproject = (dest / "pyproject.toml").read_text()
    assert '[project.entry-points."pykit.projects"]' in pyproject and 'my-plugins = "my_plugins"' in pyproject
    cmake = (dest / "CMakeLists.txt").read_text()
    assert "find_package(pykit CONFIG REQUIRED)" in cmake and "pykit_add_plugins(NAME my_plugins" in cmake
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary folder left


@pytest.mark.parametrize("setup, message", [
    (lambda d: (d.mkdir(), (d / "keep.txt").write_text("mine")), "not an empty folder"),
    (lambda d: d.write_text("a file"), "not an empty folder"),
])
def test_init_refuses_a_non_empty_destination_and_writes_nothing(tmp_path, capsys, setup, message):
    dest = tmp_path / "proj"
    setup(dest)
    before = sorted(p.as_posix() for p in tmp_path.rglob("*"))
    assert main(["init", str(dest)]) == 2
    assert message in capsys.readouterr().err
    assert sorted(p.as_posix() for p in tmp_path.rglob("*")) == before


@pytest.mark.parametrize("name, message", [("1abc", "start"), ("pykit", "reserved"), ("class", "reserved"),
                                           ("json", "already importable")])
def test_init_refuses_bad_project_names(name, message):
    with pytest.raises(init_cli.InitError, match=message):
        init_cli.package_name(name)


# ---- pykit new: into the project it runs in ------------------------------------------------------


def test_new_writes_into_the_nearest_project_from_a_subfolder(tmp_path, monkeypatch, capsys):
    dest = tmp_path / "proj"
    assert main(["init", str(dest)]) == 0
    (dest / "tests" / "deep").mkdir()
    monkeypatch.chdir(dest / "tests" / "deep")
    capsys.readouterr()
    assert main(["new", "Foo", "--input", "x", "--output", "y", "--precisions", "fp32"]) == 0
    out = capsys.readouterr().out
    assert (dest / "plugins" / "foo" / "spec.toml").is_file()
    assert not (REPO / "plugins" / "foo").exists()
    step = next(line for line in out.splitlines() if line.startswith("next: "))
    assert step == (f"next: cd {dest.resolve()} && pip install -e . && python -m pytest -q plugins/foo && "
                    "pykit validate --plugin Foo")


def test_new_outside_any_project_is_refused(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["new", "Foo", "--input", "x", "--output", "y"]) == 2
    err = capsys.readouterr().err
    assert "not inside a plugin project" in err and "pykit init" in err
    assert list(tmp_path.iterdir()) == []


def test_pykits_own_repository_is_a_project():
    own = project_mod.nearest_project(REPO / "pykit")
    assert own is not None and own.package == "pykit" and own.plugins_dir == (REPO / "plugins").resolve()


# ---- the registry over several projects ----------------------------------------------------------


def _project_with(tmp_path, folders: dict[str, Path], name="other") -> Path:
    root = tmp_path / name
    (root / "plugins").mkdir(parents=True)
    (root / "pyproject.toml").write_text(f'[project]\nname = "{name}"\n\n[tool.pykit]\n')
    for folder, src in folders.items():
        shutil.copytree(src, root / "plugins" / folder, ignore=shutil.ignore_patterns("__pycache__"))
    return root


def test_the_working_directorys_project_joins_pykits_own(tmp_path, monkeypatch):
    spec = registry.get("PillarScatter")
    root = _project_with(tmp_path, {"copy": spec.folder})
    text = (root / "plugins" / "copy" / "spec.toml").read_text().replace('"PillarScatter"', '"PillarCopy"', 1)
    assert text != (spec.folder / "spec.toml").read_text()
    (root / "plugins" / "copy" / "spec.toml").write_text(text)
    monkeypatch.chdir(root)
    copy = registry.get("PillarCopy")
    assert registry.project_of(copy).package == "other" and registry.project_of(registry.get("PillarScatter")).is_pykit
    assert registry.specs_of(registry.project_of(copy), registry.discover()) == [copy]


def test_one_plugin_name_in_two_projects_is_one_error_naming_both_spec_files(tmp_path, monkeypatch):
    spec = registry.get("PillarScatter")
    root = _project_with(tmp_path, {"pillar_scatter": spec.folder})
    monkeypatch.chdir(root)
    with pytest.raises(SpecError) as info:
        registry.discover()
    message = str(info.value)
    assert str(spec.folder / "spec.toml") in message and str(root / "plugins" / "pillar_scatter" / "spec.toml") in message
    assert "'pykit'" in message and "'other'" in message


def test_plugin_path_entries_are_folders_of_plugin_folders(tmp_path, monkeypatch):
    spec = registry.get("LayerNorm")
    shutil.copytree(spec.folder, tmp_path / "ln")
    monkeypatch.setenv("PYKIT_PLUGIN_PATH", str(tmp_path))
    with pytest.raises(SpecError, match="already used by"):
        registry.discover()
    other = tmp_path / "other"
    shutil.copytree(spec.folder, other / "renamed")
    (other / "renamed" / "spec.toml").write_text(
        (spec.folder / "spec.toml").read_text().replace('"LayerNorm"', '"LayerNormCopy"', 1))
    monkeypatch.setenv("PYKIT_PLUGIN_PATH", os.pathsep.join([str(tmp_path / "none"), str(other)]))
    copy = registry.get("LayerNormCopy")
    assert copy.folder == other / "renamed" and registry.get("LayerNorm").folder == spec.folder
    # compiled into pykit's own build (PYKIT_BUILD_DIR), as before projects existed
    assert registry.project_of(copy).origin == "PYKIT_PLUGIN_PATH" and registry.project_of(copy).is_pykit


def test_clashes_between_libraries_name_both():
    def manifest(*keys):
        return {"creators": [{"name": n, "version": v, "namespace": ns, "registered": True, "fields": []}
                             for n, v, ns in keys]}

    problems = registry.diagnose_clashes({"liba.so": manifest(("Op", "1", "x"), ("Other", "1", "x")),
                                          "libb.so": manifest(("Op", "1", "x"), ("Other", "1", "y"))})
    assert [(p.plugin, p.kind) for p in problems] == [("Op", "clash")]
    assert "liba.so and libb.so" in problems[0].message


def _fake_library(path: Path, creators: list[dict]) -> Path:
    """A shared library exporting pykit_plugin_manifest() (the C API libraries are diagnosed through),
    built as pykit_add_plugins links a real one (-Bsymbolic)."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler to build stand-in plugin libraries")
    path.parent.mkdir(parents=True, exist_ok=True)
    source = path.with_suffix(".c")
    manifest = json.dumps({"tensorrt": 8503, "creators": creators})
    source.write_text('__attribute__((visibility("default"))) const char* pykit_plugin_manifest(void) '
                      f"{{ return {json.dumps(manifest)}; }}\n")
    subprocess.run([cc, "-shared", "-fPIC", "-fvisibility=hidden", "-Wl,-Bsymbolic", "-o", str(path), str(source)],
                   check=True, timeout=120)
    return path


def _creator(spec, name=None):
    return {"name": name or spec.name, "version": spec.version, "namespace": spec.namespace, "registered": True,
            "fields": [{"name": a.name, "type": registry.FIELD_TYPES[a.type], "length": 1} for a in spec.attributes]}


def test_two_projects_libraries_load_in_one_process_each_diagnosed_and_clashes_named(tmp_path, monkeypatch):
    """pykit's library and a project's, loaded together (RTLD_GLOBAL, the same exported C API): each
    answers for itself, each is checked against its own project's specs, and a creator both register
    is a clash naming both files."""
    spec = registry.get("PillarScatter")
    root = _project_with(tmp_path, {"copy": spec.folder})
    (root / "plugins" / "copy" / "spec.toml").write_text(
        (spec.folder / "spec.toml").read_text().replace('"PillarScatter"', '"PillarCopy"', 1))
    monkeypatch.chdir(root)
    copy = registry.get("PillarCopy")
    own_specs = registry.specs_of(registry.own_project(), registry.discover())
    own_lib = _fake_library(tmp_path / "own" / "libpykit_plugins.so",
                            [_creator(s) for s in own_specs] + [_creator(copy)])
    other_lib = _fake_library(root / "build" / "x" / "libother_plugins.so", [_creator(copy)])
    monkeypatch.setenv("PYKIT_PLUGIN_LIBRARY", str(own_lib))
    monkeypatch.delenv("PYKIT_BUILD_DIR", raising=False)
    found, problems = registry.check_libraries()
    assert found[registry.own_project()] == own_lib and found[registry.project_of(copy)] == other_lib
    assert {(p.plugin, p.kind) for p in problems} == {("PillarCopy", "unspecified"), ("PillarCopy", "clash")}
    clash = next(p for p in problems if p.kind == "clash")
    assert str(own_lib) in clash.message and str(other_lib) in clash.message
    assert [c["name"] for c in registry.library_manifest(other_lib)["creators"]] == ["PillarCopy"]


def test_host_calls_go_to_the_plugins_project(tmp_path, monkeypatch):
    """A plugin of a project whose host module is not built is not run by pykit's: the error names
    the project's module and how to build it."""
    spec = registry.get("PillarScatter")
    root = _project_with(tmp_path, {"copy": spec.folder}, name="unbuilt_project")
    (root / "plugins" / "copy" / "spec.toml").write_text(
        (spec.folder / "spec.toml").read_text().replace('"PillarScatter"', '"PillarCopy"', 1))
    monkeypatch.chdir(root)
    from pykit.backends.host import host_for

    with pytest.raises(ImportError, match=r"unbuilt_project\._host is not built.*pip install -e \."):
        host_for(registry.get("PillarCopy"))


# ---- no silent emptiness -------------------------------------------------------------------------


@pytest.fixture
def no_plugins(tmp_path, monkeypatch):
    """pykit as a wheel install whose plugin folders are missing, run outside any project."""
    missing = project_mod.Project("pykit", tmp_path / "site" / "pykit" / "_data" / "plugins", "pykit", None,
                                  "pykit's own, installed")
    monkeypatch.setattr(project_mod, "own_project", lambda: missing)
    monkeypatch.setattr(registry, "own_project", lambda: missing)
    monkeypatch.delenv("PYKIT_PLUGIN_PATH", raising=False)
    monkeypatch.setattr(project_mod, "installed_projects", lambda: ((), ()))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


@pytest.mark.parametrize("argv", [["list"], ["validate"], ["inspect", "m.onnx"], ["patch", "m.onnx", "-o", "o.onnx"],
                                  ["lint", "m.onnx"], ["equiv", "a.onnx", "b.onnx"], ["demo"], ["bench"], ["doctor"]])
def test_every_command_says_why_no_plugins_were_found(no_plugins, capsys, argv):
    from pykit.cli.__main__ import COMMANDS
    import importlib.util

    if importlib.util.find_spec(COMMANDS[argv[0]]) is None:
        pytest.skip(f"no '{argv[0]}' command in this checkout")
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "no plugin specs found" in err and "does not exist" in err and "pykit init" in err
    assert list(no_plugins.iterdir()) == []  # nothing written (demo: no half-written folder)


def test_demo_leaves_no_folder_when_it_fails(tmp_path, monkeypatch, capsys):
    import pykit.surgeon.demo as demo

    def broken(out, *args, **kwargs):
        (Path(out) / "pointpillars_like.onnx").write_text("half")
        raise demo.SurgeryError("no plugin nodes")

    monkeypatch.setattr(demo, "run_demo", broken)
    assert main(["demo", "--out", str(tmp_path / "out")]) == 2
    assert "no plugin nodes" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


# ---- the whole user path, from a wheel install in a fresh virtual environment ---------------------


def _run(cmd, cwd, env, timeout=900):
    out = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout,
                         shell=isinstance(cmd, str))
    assert out.returncode == 0, f"{cmd} in {cwd}:\n{out.stdout[-4000:]}\n{out.stderr[-4000:]}"
    return out.stdout


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    """A fresh venv holding only a wheel of this checkout (built once, without nvcc: speed) and its
    dependencies; the environment to run its commands in; a work folder outside the checkout."""
    for tool in ("cmake", "ninja"):
        if not shutil.which(tool):
            pytest.skip(f"{tool} is not installed: the wheel and the project are not built here")
    try:
        import pybind11  # noqa: F401
        import scikit_build_core  # noqa: F401
    except ImportError as exc:
        pytest.skip(f"build tools missing ({exc}): pip install -e '.[test]'")
    base = tmp_path_factory.mktemp("fresh")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYKIT_", "PYTHON", "VIRTUAL_ENV"))}
    env.update(PYKIT_CUDA="OFF", PIP_DISABLE_PIP_VERSION_CHECK="1")
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(base / "dist"),
          "-C", f"build-dir={base / 'build'}", str(REPO)], base, env)
    wheel = next((base / "dist").glob("pykit-*.whl"))
    _run([sys.executable, "-m", "venv", str(base / "venv")], base, env)
    bin_dir = base / "venv" / "bin"
    env.update(PATH=f"{bin_dir}{os.pathsep}{env['PATH']}", VIRTUAL_ENV=str(base / "venv"))
    install = subprocess.run([str(bin_dir / "pip"), "install", "-q", str(wheel)], cwd=base, env=env,
                             capture_output=True, text=True, timeout=900)
    if install.returncode != 0:
        pytest.skip(f"pykit's dependencies could not be installed into a fresh venv (no index?): {install.stderr[-500:]}")
    work = base / "work"
    work.mkdir()
    return bin_dir, env, work


@pytest.fixture(scope="module")
def user_project(fresh):
    bin_dir, env, work = fresh
    out = _run("pykit init myplugins && cd myplugins && pykit new MyOp --input x:float --output y "
               "--attr alpha:float=0.5 --precisions fp32,fp16,int8", work, env)
    # the next step `pykit new` printed, run verbatim from where the user stands
    step = [line for line in out.splitlines() if line.startswith("next: ")][-1][len("next: "):]  # new's, after init's
    ran = _run(step, work / "myplugins", env)
    assert "passed" in ran and "0 failed" in ran, ran[-2000:]
    return work / "myplugins"


def test_wheel_ships_the_kit_and_no_source_tree(fresh):
    bin_dir, env, work = fresh
    code = ("import json, pykit, pykit.project as p; from pathlib import Path; "
            "print(json.dumps([pykit.__file__, str(p.own_project().plugins_dir), str(p.templates_dir('plugin'))]))")
    package, plugins, templates = json.loads(_run([str(bin_dir / "python"), "-c", code], work, env))
    site = Path(package).parent
    assert REPO not in Path(package).parents and Path(plugins) == site / "_data" / "plugins"
    assert (Path(plugins) / "common" / "trt" / "library.cpp").is_file() and (Path(plugins) / "pillar_scatter" / "spec.toml").is_file()
    assert (Path(templates) / "spec.toml.j2").is_file() and (site / "host" / "module.cpp").is_file()
    assert Path(_run([str(bin_dir / "pykit"), "--cmake-dir"], work, env).strip()) == site / "cmake"


def test_user_project_tests_validate_list_and_demo_pass(fresh, user_project):
    bin_dir, env, work = fresh
    # the venv holds pykit's wheel and what the project's install brought (pytest included), nothing else
    out = _run([str(bin_dir / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider"], user_project, env)
    assert " passed" in out and "failed" not in out and "error" not in out.lower()
    out = _run([str(bin_dir / "pykit"), "validate", "--plugin", "MyOp", "--no-progress"], user_project, env)
    assert [line.split()[1] for line in out.splitlines() if line.startswith("MyOp")] == ["fp32", "fp16", "int8"]
    assert "FAIL" not in out
    listed = {line.split()[0] for line in _run([str(bin_dir / "pykit"), "list"], user_project, env).splitlines()[2:]}
    assert {"MyOp", "PillarScatter", "LayerNorm", "ScatterElementsReduce"} <= listed
    # installed, the project is found from anywhere (its entry point), not only from its folder
    listed = _run([str(bin_dir / "pykit"), "list"], work, env)
    assert "MyOp" in listed
    out = _run([str(bin_dir / "pykit"), "demo"], user_project, env)
    assert "demo: PASS" in out and (user_project / "pykit-demo" / "report.md").is_file()


def _trt_root(tmp: Path, staged: str) -> Path:
    include = REPO / staged / "include"
    if not (include / "NvInferVersion.h").is_file():
        pytest.skip(f"no TensorRT headers staged at {include}: the project's glue was NOT compile-checked")
    root = tmp / staged.strip(".")
    root.mkdir(exist_ok=True)
    (root / "include").exists() or (root / "include").symlink_to(include)
    return root


def _nvcc():
    return shutil.which("nvcc") or ("/usr/local/cuda/bin/nvcc" if os.path.exists("/usr/local/cuda/bin/nvcc") else None)


@pytest.mark.parametrize("staged", [".trt", ".trt10"])
def test_user_project_glue_compiles_against_tensorrt_headers(fresh, user_project, tmp_path, staged):
    """The project's own glue (its library.cpp with its creator list; each plugin's one body) against
    TensorRT 8.5 (V2 creators) and 10 (IPluginV3 creators) headers: compiled, not linked (no libnvinfer)."""
    if not _nvcc():
        pytest.skip("no nvcc: CMake compiles the TensorRT glue only with the CUDA toolkit")
    bin_dir, env, work = fresh
    root = _trt_root(tmp_path, staged)
    if not (user_project / "plugins" / "bar").exists():
        _run([str(bin_dir / "pykit"), "new", "Bar", "--input", "a", "--output", "b", "--precisions", "fp32,fp16"],
             user_project, env)
    build = tmp_path / "build"
    config = _run(["cmake", "-S", str(user_project), "-B", str(build), "-G", "Ninja", f"-DTENSORRT_ROOT={root}",
                   f"-DPython_EXECUTABLE={bin_dir / 'python'}", "-DCMAKE_CUDA_ARCHITECTURES=75-real",
                   f"-Dpybind11_DIR={subprocess.run([sys.executable, '-m', 'pybind11', '--cmakedir'], capture_output=True, text=True).stdout.strip()}"],
                  user_project, env)
    assert "compile check of the glue only" in config
    log = _run(["cmake", "--build", str(build), "--target", "myplugins_plugins", "-j", "2", "-v"], user_project, env)
    assert "my_op_plugin.cpp" in log and "library.cpp" in log
    assert "X(my_op)" in (build / "myplugins_generated" / "creator_list.h").read_text()
    assert "bar_plugin.cpp" in log and "X(bar)" in (build / "myplugins_generated" / "creator_list.h").read_text()
    assert ("glue with IPluginV3 creators" if staged == ".trt10" else "glue with IPluginV2DynamicExt creators") in config
