"""The one conformance suite: every discovered plugin is held to its spec, on every available backend.

For each plugin folder: the spec loads and the folder has the parts found by fixed names; the
compiled field and IO tables equal the spec; the attribute serializer round-trips and refuses
truncated, oversized and garbage buffers; host calls with a wrong input count, precision or dtype
are refused naming the culprit; each backend (host; trt where pykit._trt and the plugin library
exist) matches the numpy reference at every precision over the spec's cases within the spec's
tolerance (pykit.validate), and a wrong reference is caught; the README's generated block is
fresh; the bench case is present and well formed. A plugin's own tests (plugins/<id>/tests/) keep
only what is specific to its op.
"""
import functools
import inspect
import struct

import numpy as np
import pytest

from pykit import docs, registry
from pykit.codegen import schema_hash
from pykit.spec import PRECISIONS, snake_case
from pykit.validate import validate_case

SPECS = registry.discover()
BY_NAME = {s.name: s for s in SPECS}
BACKENDS = ("host", "trt")
TYPE_OF = {"int32": "int32", "float32": "float32", "int32[]": "int32[]", "float32[]": "float32[]", "string": "string"}


@functools.lru_cache(maxsize=None)
def _cases(plugin: str) -> tuple:
    return tuple(registry.entry_point(BY_NAME[plugin], "cases")(np.random.default_rng(0)))


def cases_of(spec):
    """The spec's validation cases (seed 0), generated once per session."""
    return list(_cases(spec.name))


def case_params():
    """(plugin, precision, case name) for every plugin x spec precision x case: one test each."""
    out = []
    for spec in SPECS:
        for precision in spec.precisions:
            out += [pytest.param(spec.name, precision, c.name, id=f"{spec.name}-{precision}-{c.name}")
                    for c in cases_of(spec)]
    return out


def sample_attrs(spec):
    """Required attributes at their minimum (or 1), optional ones at default."""
    out = {}
    for a in spec.attributes:
        if a.required:
            if a.type == "string":
                out[a.name] = a.choices[0] if a.choices else "x"
            elif a.is_array:
                out[a.name] = [int(a.min or 1)] * 2 if a.scalar_type == "int32" else [float(a.min or 1.0)] * 2
            else:
                out[a.name] = int(a.min if a.min is not None else 1) if a.type == "int32" else float(a.min or 1.0)
    return spec.resolve_attributes(out)


_backends = {}


def backend_for(name: str, spec):
    """The backend, or a skip that says why it cannot run this plugin here."""
    from pykit.backends import BackendUnavailable, get_backend

    if name not in _backends:
        try:
            _backends[name] = get_backend(name)
        except BackendUnavailable as exc:
            _backends[name] = str(exc)
    backend = _backends[name]
    if isinstance(backend, str):
        pytest.skip(backend)
    if name == "trt":
        manifest = registry.library_manifest(registry.find_library())
        if spec.name not in {c["name"] for c in manifest["creators"]}:
            pytest.skip(f"the plugin library has no {spec.name} creator (rebuild it)")
    return backend


# ---- the folder ----------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_folder_has_its_parts_by_fixed_names(spec):
    """The spec loads (discover did) and the folder holds the parts every plugin has, by name."""
    assert spec.folder.name == snake_case(spec.name), f"{spec.folder}: a plugin's folder is snake_case(name)"
    for name in ("spec.toml", "reference.py", "host.cpp", "README.md", "bench.py", "bench.cpp"):
        assert (spec.folder / name).is_file(), f"{spec.name}: {spec.folder / name} is missing"
    assert list(spec.folder.glob("*.cu")), f"{spec.name}: no CUDA source (*.cu) in {spec.folder}"
    assert list(spec.folder.glob("*_plugin.cpp")), f"{spec.name}: no TensorRT glue (*_plugin.cpp) in {spec.folder}"


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_reference_and_cases_are_found_by_name(spec):
    reference = registry.entry_point(spec, "reference")
    assert callable(reference), f"{spec.name}: reference.py's {snake_case(spec.name)} is not callable"
    cases = cases_of(spec)
    assert cases, f"{spec.name}: reference.py's cases(rng) yields no case"
    names = [c.name for c in cases]
    assert len(set(names)) == len(names), f"{spec.name}: case names repeat: {names}"
    again = list(registry.entry_point(spec, "cases")(np.random.default_rng(0)))  # seeded: same seed, same cases
    for a, b in zip(cases, again, strict=True):
        for t in spec.inputs:
            assert np.array_equal(a.inputs[t.name], b.inputs[t.name]), f"{spec.name}: case '{a.name}' is not seeded"


# ---- the compiled spec ---------------------------------------------------------------------------


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_compiled_field_table_matches_spec(host, spec):
    """The attribute schema exists once: the build generated the C++ table from this very spec."""
    assert spec.name in host.plugins(), f"{spec.name} has no host backend compiled: rebuild with pip install -e ."
    fields = host.fields(spec.name)
    assert [(f["name"], f["type"], f["required"]) for f in fields] == [
        (a.name, TYPE_OF[a.type], a.required) for a in spec.attributes
    ]
    assert [(f["min"], f["max"], tuple(f["choices"])) for f in fields] == [
        (a.min, a.max, a.choices) for a in spec.attributes
    ]
    assert host.schema_hash(spec.name) == schema_hash(spec), "stale build: rebuild with pip install -e ."


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_compiled_io_table_matches_spec(host, spec):
    """The tensors exist once too: names, precisions, and each tensor's dtype and ranks per precision,
    as the TensorRT bases and the host binder read them, are this very spec's."""
    io = host.io(spec.name)
    tensors = spec.inputs + spec.outputs
    assert io["inputs"] == [t.name for t in spec.inputs] and io["outputs"] == [t.name for t in spec.outputs]
    assert io["precisions"] == list(spec.precisions)
    for p in spec.precisions:
        assert io["dtypes"][p] == [t.dtype(p) for t in tensors], p
        assert io["ranks"][p] == [sorted(t.ranks_at(p)) for t in tensors], p


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_host_call_is_checked_against_the_io_table(host, spec):
    """A wrong input count, a precision outside the spec and a wrong dtype are refused naming the
    culprit, before any plugin code runs (host::bind, from the compiled table)."""
    with pytest.raises(ValueError, match=f"{spec.name}: expects {len(spec.inputs)} input"):
        host.run(spec.name, [], sample_attrs(spec), spec.precisions[0], [], [])
    for precision in [p for p in PRECISIONS if p not in spec.precisions] + ["int4"]:
        with pytest.raises(ValueError, match=f"precision '{precision}' is not in the spec|unknown precision '{precision}'"):
            host.run(spec.name, [], sample_attrs(spec), precision, [], [])
    first = spec.inputs[0]
    rank = first.ranks_at(spec.precisions[0])[-1]
    wrong = [np.zeros((1,) * rank, np.float64)] + [np.zeros((1,) * t.ranks_at(spec.precisions[0])[-1],
                                                            t.dtype(spec.precisions[0])) for t in spec.inputs[1:]]
    with pytest.raises(ValueError, match=f"{spec.name}: input '{first.name}' must be {first.dtype(spec.precisions[0])}"):
        host.run(spec.name, wrong, sample_attrs(spec), spec.precisions[0], [1.0] * len(spec.inputs),
                 [1.0] * len(spec.outputs))


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_round_trip_and_defaults(host, spec):
    attrs = sample_attrs(spec)
    blob = host.serialize_attrs(spec.name, {k: v for k, v in attrs.items() if spec.attribute(k).required})
    got = host.deserialize_attrs(spec.name, blob)
    assert set(got) == set(attrs)
    for k, v in attrs.items():  # one by one: pytest.approx takes no dict of lists (array attributes)
        assert got[k] == (v if isinstance(v, str) else pytest.approx(v)), k


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_every_truncation_is_refused(host, spec):
    blob = host.serialize_attrs(spec.name, sample_attrs(spec))
    for n in range(len(blob)):
        with pytest.raises(ValueError, match=f"{spec.name}: invalid serialized data"):
            host.deserialize_attrs(spec.name, blob[:n])


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_oversized_and_corrupt_headers_are_refused(host, spec):
    blob = host.serialize_attrs(spec.name, sample_attrs(spec))
    cases = {
        "trailing byte": (blob + b"\0", "payload bytes"),
        "payload size lies (bigger)": (blob[:12] + struct.pack("<I", len(blob)) + blob[16:], "payload bytes"),
        "bad magic": (b"XXXX" + blob[4:], "bad magic"),
        "other format": (blob[:4] + struct.pack("<H", 99) + blob[6:], "format 99"),
        "other schema": (blob[:8] + struct.pack("<I", (host.schema_hash(spec.name) + 1) & 0xFFFFFFFF) + blob[12:],
                         "different spec"),
    }
    for name, (bad, message) in cases.items():
        with pytest.raises(ValueError, match=message):
            host.deserialize_attrs(spec.name, bad)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_random_garbage_never_crashes(host, spec):
    """Random bytes (seeded), with and without a valid header, only ever raise the plugin's error."""
    rng = np.random.default_rng(7)
    header = host.serialize_attrs(spec.name, sample_attrs(spec))[:16]
    for trial in range(300):
        body = rng.integers(0, 256, size=int(rng.integers(0, 64)), dtype=np.uint8).tobytes()
        blob = (header[:12] + struct.pack("<I", len(body)) + body) if trial % 2 else body
        try:
            host.deserialize_attrs(spec.name, blob)
        except ValueError as err:
            assert spec.name in str(err)


# ---- numerics: every backend against the reference -----------------------------------------------


@pytest.mark.parametrize("backend_name", BACKENDS)
@pytest.mark.parametrize("plugin, precision, case", case_params())
def test_backend_matches_reference(backend_name, plugin, precision, case):
    spec = BY_NAME[plugin]
    backend = backend_for(backend_name, spec)
    found = next(c for c in cases_of(spec) if c.name == case)
    result = validate_case(spec, backend, precision, found, registry.entry_point(spec, "reference"))
    assert result.passed, result.message
    assert result.actual_precision == precision


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_a_wrong_reference_is_caught(host, spec):
    """The comparison has teeth: a reference shifted by more than its own range fails every precision."""
    reference = registry.entry_point(spec, "reference")

    def shifted(inputs, attrs):
        out = {}
        for k, v in reference(inputs, attrs).items():
            v = np.asarray(v, np.float64)
            out[k] = v + 1.0 + (float(np.max(np.abs(v))) if v.size else 0.0)
        return out

    backend = backend_for("host", spec)
    case = next(c for c in cases_of(spec)
                if all(np.size(v) for v in reference(c.inputs, spec.resolve_attributes(c.attrs)).values()))
    for precision in spec.precisions:
        assert not validate_case(spec, backend, precision, case, shifted).passed, precision


# ---- documentation and bench ---------------------------------------------------------------------


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_readme_block_is_fresh(spec):
    path = spec.folder / "README.md"
    text = path.read_text(encoding="utf-8")
    assert docs.plugin_block(spec) in text, f"{path}: the generated block is stale: run python -m pykit.docs"


def test_top_readme_plugins_table_is_fresh():
    from pykit.project import own_project

    if own_project().root is None:
        pytest.skip("pykit is installed from a wheel: no checkout README to keep fresh")
    top = own_project().root / "README.md"
    assert docs.PLUGINS_BEGIN in top.read_text(encoding="utf-8"), f"{top} has no generated Plugins table"
    assert top not in docs.updates(SPECS, top), f"{top}: the Plugins table is stale: run python -m pykit.docs"


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_bench_case_is_well_formed(spec):
    from pykit.bench import bench_module
    from pykit.bench.case import BenchCase

    module = bench_module(spec)  # loads; cases and launch_case defined
    params = list(inspect.signature(module.launch_case).parameters)
    assert params == ["torch", "launcher", "stream", "precision", "inputs", "attrs", "input_scales", "output_scales"]
    cases = module.cases(list(spec.precisions))
    assert cases, f"{spec.name}: bench.py's cases() gives nothing at {list(spec.precisions)}"
    for case in cases:
        assert isinstance(case, BenchCase) and case.plugin == spec.name, case
        assert case.precision in spec.precisions, f"{spec.name}: a bench case at {case.precision}, not in the spec"
        assert case.traffic().bytes > 0 and case.traffic().formula, case.key
    assert module.cases([]) == [], f"{spec.name}: bench.py's cases() ignores the precisions asked for"
    source = (spec.folder / "bench.cpp").read_text(encoding="utf-8")
    assert "PYKIT_REGISTER_BENCH_LAUNCHER(" in source, f"{spec.folder / 'bench.cpp'} registers no launcher"


@pytest.mark.parametrize("spec", [s for s in SPECS if (s.folder / "models.py").is_file()], ids=lambda s: s.name)
def test_example_models_are_taken_by_their_plugin(spec):
    """models.py's demos(seed) gives named, checked models with input specs, which patching (with the
    forced rewrites its FORCE names, if any) turns into at least one node of this plugin, leaving
    nothing unpatched (what `pykit demo` relies on)."""
    import onnx

    from pykit.surgeon.models import INPUT_SPECS_KEY
    from pykit.surgeon.patch import patch_model

    module = registry.load_module(spec, "models")
    demos = module.demos(0)
    assert demos, f"{spec.folder / 'models.py'}: demos() gives no model"
    for name, model in demos.items():
        assert isinstance(model, onnx.ModelProto), name
        assert INPUT_SPECS_KEY in {p.key for p in model.metadata_props}, f"{name}: no {INPUT_SPECS_KEY} metadata"
        result = patch_model(model, trt="8.5", force=getattr(module, "FORCE", {}).get(name, []))
        assert spec.name in {n.op_type for n in result.model.graph.node}, f"{name}: patching made no {spec.name} node"
        assert not result.unpatched, f"{name}: left unpatched: {result.unpatched}"
