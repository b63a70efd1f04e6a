"""Lifecycle checks of each plugin in real TensorRT engines: what TensorRT does to a plugin besides
running it once. Part of ``pykit validate --backend trt``; each check is a named PASS/FAIL row.

* serialize -> deserialize: two engines deserialized from one plan give bit-identical outputs
  (the plugin's first case, fp32), both within the spec's tolerance;
* clone: a clone keeps the namespace that was set (not the creator's), type, version and every
  attribute (its serialization equals the original's); the creator's deserializer gives back the
  same bytes and refuses every truncation and a trailing byte (``pykit._trt.check_plugin``);
* zero-sized dims: every case with an empty input runs and matches the reference;
* shapes in one profile: one engine whose profile spans the largest group of cases sharing
  attributes and ranks runs each of them (fp32 and fp16; int8 engines stay one per case because
  each case has its own calibrated scales);
* two profiles: one engine with two optimization profiles, a case run on each;
* library twice / missing: a second copy of the plugin library is diagnosed ``unregistered``, and
  a library path that does not exist gives the registry's error naming it.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import textwrap
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from pykit import registry
from pykit.validate import compare, expectations, prepare_inputs


@dataclass
class Check:
    plugin: str
    check: str
    passed: bool
    detail: str


def _prepared(spec, precision, case):
    typed, ref_inputs, in_scales = prepare_inputs(spec, precision, case)
    attrs = spec.resolve_attributes(case.attrs)
    reference = registry.entry_point(spec, "reference")
    expected, out_scales = expectations(spec, precision, reference(ref_inputs, attrs))
    return typed, attrs, in_scales, expected, out_scales


def _judge(spec, precision, run, expected, out_scales) -> list[str]:
    *_, problems, _ = compare(spec, precision, run.outputs, expected, out_scales)
    if run.actual_precision != precision:
        problems.insert(0, f"asked for {precision}, the plugin ran {run.actual_precision}")
    return problems


def _shape_key(typed):
    return tuple(tuple(np.shape(x)) for x in typed)


def shape_group(spec, cases, precision="fp32"):
    """The largest set of cases sharing attributes and input ranks, with distinct shapes."""
    groups: dict = {}
    for case in cases:
        typed, _, _ = prepare_inputs(spec, precision, case)  # shapes only: no reference run
        attrs = spec.resolve_attributes(case.attrs)
        key = (repr(sorted(attrs.items())), tuple(np.ndim(x) for x in typed))
        group = groups.setdefault(key, {})
        group.setdefault(_shape_key(typed), case)  # one case per distinct shape set
    return max(groups.values(), key=len) if groups else {}


def _span(shape_sets):
    lo = [tuple(min(d) for d in zip(*shapes)) for shapes in zip(*shape_sets)]
    hi = [tuple(max(d) for d in zip(*shapes)) for shapes in zip(*shape_sets)]
    return [(a, b, b) for a, b in zip(lo, hi)]


def check_serialize(spec, backend, case) -> Check:
    import pykit.backends.trt as trt

    typed, attrs, in_s, expected, out_s = _prepared(spec, "fp32", case)
    plan = backend.engine(spec, "fp32", typed, attrs, in_s, out_s)
    runs = [backend.run_engine(trt.trt_module().Engine(plan), spec, "fp32", typed, in_s, out_s) for _ in range(2)]
    same = all(np.array_equal(a, b, equal_nan=True) for a, b in zip(runs[0].outputs, runs[1].outputs))
    problems = [p for r in runs for p in _judge(spec, "fp32", r, expected, out_s)]
    ok = same and not problems
    return Check(spec.name, "serialize -> deserialize", ok,
                 f"case '{case.name}': plan of {len(plan)} bytes deserialized twice; outputs "
                 f"{'bit-identical' if same else 'DIFFER'}" + (f"; {'; '.join(problems)}" if problems else ""))


def check_clone(spec, case) -> Check:
    import pykit.backends.trt as trt

    attrs = spec.resolve_attributes(case.attrs)
    r = trt.trt_module().check_plugin(spec.name, spec.version, spec.namespace, trt.fields_for(spec, attrs))
    failures = []
    if r["clone_namespace"] != r["namespace_set"]:
        failures.append(f"clone namespace '{r['clone_namespace']}' != '{r['namespace_set']}'")
    if (r["clone_type"], r["clone_version"]) != (spec.name, spec.version) or (r["type"], r["version"]) != (spec.name, spec.version):
        failures.append(f"type/version {r['type']}/{r['version']}, clone {r['clone_type']}/{r['clone_version']}")
    if not r["clone_serialization_equal"]:
        failures.append("the clone serializes differently (attributes not kept)")
    if not (r["deserialized"] and r["deserialized_serialization_equal"]):
        failures.append("deserializePlugin did not give back the same plugin")
    if r["bad_buffers_accepted"]:
        failures.append(f"{r['bad_buffers_accepted']} of {r['bad_buffers_tried']} truncated/overlong buffers accepted")
    return Check(spec.name, "clone / deserialize", not failures,
                 "; ".join(failures) or f"namespace '{r['namespace_set']}' kept by clone; {r['serialized_bytes']}-byte "
                 f"serialization equal for clone and deserialized copy; {r['bad_buffers_tried']} truncated/overlong "
                 "buffers all refused")


def check_zero_size(spec, backend, cases) -> Check:
    empty = [c for c in cases if any(0 in np.shape(x) for x in c.inputs.values())]
    if not empty:
        return Check(spec.name, "zero-sized dims", False, "cases() has no case with an empty input: add one")
    problems, names = [], []
    for case in empty:
        for precision in spec.precisions:
            typed, attrs, in_s, expected, out_s = _prepared(spec, precision, case)
            run = backend.run(spec, precision, typed, attrs, in_s, out_s)
            problems += [f"{case.name} {precision}: {p}" for p in _judge(spec, precision, run, expected, out_s)]
        names.append(case.name)
    return Check(spec.name, "zero-sized dims", not problems,
                 "; ".join(problems) or f"{', '.join(names)} at {', '.join(spec.precisions)}: ran and matched")


def check_profile_shapes(spec, backend, group) -> list[Check]:
    import pykit.backends.trt as trt

    out = []
    for precision in [p for p in spec.precisions if p != "int8"]:
        prepared = [(case, *_prepared(spec, precision, case)) for case in group.values()]
        span = _span([_shape_key(p[1]) for p in prepared])
        case0, typed0, attrs, in_s, _, out_s = prepared[0]
        engine = trt.trt_module().Engine(backend.build(spec, precision, attrs, [span], in_s, out_s))
        problems = []
        for case, typed, _, in_s, expected, out_s in prepared:
            run = backend.run_engine(engine, spec, precision, typed, in_s, out_s)
            problems += [f"{case.name}: {p}" for p in _judge(spec, precision, run, expected, out_s)]
        shapes = "; ".join(" ".join("x".join(map(str, s)) or "scalar" for s in _shape_key(p[1])) for p in prepared)
        out.append(Check(spec.name, f"shapes in one profile ({precision})", not problems and len(prepared) > 1,
                         "; ".join(problems) or (f"{len(prepared)} shape sets in one engine: {shapes}" if len(prepared) > 1
                                                 else "cases() has no two cases with the same attributes and ranks")))
    return out


def check_two_profiles(spec, backend, group) -> Check:
    import pykit.backends.trt as trt

    prepared = [(case, *_prepared(spec, "fp32", case)) for case in group.values()]
    first, rest = prepared[0], prepared[1:] or prepared[:1]
    profiles = [[(s, s, s) for s in _shape_key(first[1])], _span([_shape_key(p[1]) for p in rest])]
    _, _, attrs, in_s, _, out_s = first
    engine = trt.trt_module().Engine(backend.build(spec, "fp32", attrs, profiles, in_s, out_s))
    problems = []
    if engine.profiles() != 2:
        problems.append(f"the engine has {engine.profiles()} profiles")
    for profile, items in ((0, [first]), (1, rest)):
        for case, typed, _, in_s, expected, out_s in items:
            run = backend.run_engine(engine, spec, "fp32", typed, in_s, out_s, profile=profile)
            problems += [f"{case.name} on profile {profile}: {p}" for p in _judge(spec, "fp32", run, expected, out_s)]
    return Check(spec.name, "two optimization profiles", not problems,
                 "; ".join(problems) or f"'{first[0].name}' on profile 0, {', '.join(repr(p[0].name) for p in rest)} on profile 1")


def check_library() -> list[Check]:
    """A second copy of the library, loaded in a fresh process after the first, and a missing path."""
    path = registry.find_library()
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / path.name
        shutil.copy(path, copy)
        script = textwrap.dedent(f"""
            from pykit import registry
            specs = registry.specs_of(registry.own_project(), registry.discover())
            registry.library_manifest({str(path)!r})
            print("\\n".join(str(p) for p in registry.diagnose(specs, registry.library_manifest({str(copy)!r}), "the copy")))
        """)
        r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    kinds = {line.split(": ")[1] for line in r.stdout.splitlines() if ": " in line}
    ok = r.returncode == 0 and kinds == {"unregistered"}
    out.append(Check("(library)", "loaded twice", ok,
                     f"second copy diagnosed: {sorted(kinds)}" if r.returncode == 0 else r.stderr.strip()[-300:]))
    missing = Path(tempfile.gettempdir()) / "pykit-no-such-dir" / path.name
    try:
        registry.load_library(str(missing))
        out.append(Check("(library)", "missing", False, f"loading {missing} did not fail"))
    except registry.RegistryError as exc:
        out.append(Check("(library)", "missing", str(missing) in str(exc), str(exc)))
    return out


def run_lifecycle(specs, backend, seed: int = 0, log=None) -> list[Check]:
    checks = []
    for spec in specs:
        cases = list(registry.entry_point(spec, "cases")(np.random.default_rng(seed)))
        group = shape_group(spec, cases)
        steps = [("serialize -> deserialize", lambda: [check_serialize(spec, backend, cases[0])]),
                 ("clone / deserialize", lambda: [check_clone(spec, cases[0])]),
                 ("zero-sized dims", lambda: [check_zero_size(spec, backend, cases)]),
                 ("shapes in one profile", lambda: check_profile_shapes(spec, backend, group)),
                 ("two optimization profiles", lambda: [check_two_profiles(spec, backend, group)])]
        for name, step in steps:
            try:
                checks += step()
            except Exception as exc:  # a crash is that check's FAIL, named
                checks.append(Check(spec.name, name, False, f"{type(exc).__name__}: {exc}"))
            if log:
                log(checks[-1])
    try:
        checks += check_library()
    except Exception as exc:
        checks.append(Check("(library)", "loaded twice / missing", False, f"{type(exc).__name__}: {exc}"))
    return checks


def to_json(checks: list[Check]) -> list[dict]:
    return [asdict(c) for c in checks]
