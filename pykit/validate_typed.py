"""Plugin precision asked the strongly typed way (TensorRT 11 has no builder precision flags, no
calibrators, no setDynamicRange): ``pykit validate --backend trt --typed``.

Each plugin x precision is built in one-plugin engines in several forms (runner.cpp,
``Builder.build_plugin_typed``), with no builder flag first; a form TensorRT 8.5 refuses without
a flag is tried again with the one flag 8.5 may need (kFP16 / kINT8), so the report says which flag
8.5 strictly requires:

* fp32 ``types``: float32 tensors, no flag (the same network as today's mode);
* fp16 ``io``: the plugin's float tensors are fp16 network inputs and outputs;
* fp16 ``cast``: float32 network I/O, identity layers with output type fp16 -> plugin -> fp32
  (8.5 has no ICastLayer; the identity layer is its conversion);
* int8 ``fused``: float32 input -> Quantize(s_in) -> plugin -> Dequantize(s_out) -> float32 output,
  the form TensorRT needs to keep a plugin in int8 (Q -> plugin(int8 in/out) -> DQ); the plugin also
  carries the Q/DQ scales in its ``int8_scales`` attribute, as ``pykit calibrate --qdq`` writes them
  (TensorRT 8.5 hands such a plugin scale 1.0 for every int8 tensor; the bases use the attribute);
* int8 ``qdq``: a Q -> DQ pair on every plugin input and output (what ``insert_qdq`` writes on
  tensors), left to TensorRT's Q/DQ fusion to turn into the fused form, or not.

Cases, inputs, scales, expectations and tolerances are those of ``pykit.validate`` (an int8 input is
fed as its dequantized float32 values q*s, which Quantize(s) maps back to q exactly; an int8 output
is the Dequantize's q*s_out, requantized exactly). What the plugin ran is its enqueue record; the
engine's layers (name, type, output format) are TensorRT's inspector's. The verdicts:

* REFUSED: the first case did not build; TensorRT's exact error (the other cases are not tried);
* RAN FP32 (or another precision): TensorRT ran the plugin in another precision than the form asks
  for, so the run says nothing about the plugin at the precision asked (an FP16 PASS must come from
  an FP16 run); the detail says whether its numbers were within that precision's tolerance anyway;
* WRONG SCALES: the plugin ran int8, but the scales it computed with are not the Q/DQ layers'
  scales, so its int8 arithmetic cannot be right in general (it may still match on cases where only a
  ratio of scales matters, e.g. PillarScatter's s_in/s_out = 1). Those are the ones TensorRT handed
  it (PluginTensorDesc::scale, as the plugin library recorded them in configurePlugin and at
  enqueue: pykit_scale_record), or, where its ``int8_scales`` attribute is set, the attribute's (the
  record's "enqueue int8_scales" entries; both are shown);
* FAIL: a case crashed or computed out of tolerance with the precision and scales asked;
* PASS: every case ran the precision asked, with the scales asked, within the spec's tolerance.

A form that is REFUSED or RAN another precision with no builder flag is tried again with the flag.
"""
from __future__ import annotations

import ctypes
import json
import math

import numpy as np

from pykit.backends.trt import TensorRTBackend, builder, fields_for, plugin_library, trt_module

#: precision -> forms, each tried with no builder flag, then (if refused) with FLAG[precision]
FORMS = {"fp32": ("types",), "fp16": ("io", "cast"), "int8": ("fused", "qdq")}
FLAG = {"fp32": None, "fp16": "fp16", "int8": "int8"}

#: why TensorRT 8.5 may run the plugin in another precision than a form asks for (what the engines show)
WHY_ANOTHER_PRECISION = {
    ("fp16", "io"): "TensorRT 8.5 has no strongly typed networks (no NetworkDefinitionCreationFlag::kSTRONGLY_TYPED; "
                    "it is in the 10.x headers): a tensor's type is a preference it may override unless "
                    "kOBEY_PRECISION_CONSTRAINTS is set (8.5 NvInfer.h, ILayer::setOutputType), and it reformatted "
                    "the fp16 inputs to fp32 around the plugin (see the layers)",
    ("fp16", "cast"): "TensorRT 8.5 has no strongly typed networks (no NetworkDefinitionCreationFlag::kSTRONGLY_TYPED; "
                      "it is in the 10.x headers): the identity layers' output type fp16 is a preference it may "
                      "override unless kOBEY_PRECISION_CONSTRAINTS is set (8.5 NvInfer.h, ILayer::setOutputType); it "
                      "made them fp32 no-ops (see the layers)",
    ("int8", "qdq"): "TensorRT 8.5 did not fuse the Q/DQ pairs into the plugin: it ran DQ -> plugin -> Q with the "
                     "plugin in fp32 (see the layers)",
}


def _record(spec, name: str):
    """The plugin library's C function `name`, or None when the library predates it."""
    return getattr(plugin_library(spec), name, None)


def clear_scale_record(spec) -> None:
    clear = _record(spec, "pykit_scale_record_clear")
    if clear is not None:
        clear()


def scale_record(spec) -> list[str] | None:
    """The int8 scales the plugin was handed since the last clear, as its library recorded them:
    'configurePlugin: s,-,...->s' / 'enqueue: ...' ('-' for a tensor that was not INT8); None when
    the library has no scale record."""
    getter = _record(spec, "pykit_scale_record")
    if getter is None:
        return None
    getter.restype = ctypes.c_char_p
    return json.loads(getter().decode()).get(spec.name, [])


def parse_scale_entry(entry: str) -> tuple[str, list[float | None]]:
    """'enqueue: 0.5,-->0.25' -> ('enqueue', [0.5, None, 0.25]): inputs then outputs, spec order."""
    where, _, values = entry.partition(": ")
    ins, _, outs = values.partition("->")
    parts = (ins.split(",") if ins else []) + (outs.split(",") if outs else [])
    return where, [None if v == "-" else float(v) for v in parts]


def _named(spec, scales) -> str:
    names = [t.name for t in spec.inputs] + [t.name for t in spec.outputs]
    ins = [f"{n}={s:.6g}" for n, s in zip(names[:len(spec.inputs)], scales) if s is not None]
    outs = [f"{n}={s:.6g}" for n, s in zip(names[len(spec.inputs):], scales[len(spec.inputs):]) if s is not None]
    return f"{', '.join(ins)} -> {', '.join(outs)}"


#: the scale record's entry of the scales an enqueue computed with after the int8_scales attribute
#: replaced TensorRT's (plugins/common/trt/library.cpp record_scales_used)
USED_ENTRY = "enqueue int8_scales"


def scale_check(spec, given: list, seen: list[str] | None, carried: bool = False) -> tuple[bool, str]:
    """(whether every enqueue computed with each int8 tensor's Q/DQ scale, a line saying what it saw).
    given: the Q/DQ scale of each tensor in spec order (inputs, then outputs), None where not int8.
    seen: scale_record's entries; None (not recorded) is taken as matching, and said so.
    carried: the plugin had the scales in its int8_scales attribute, so what it computed with are the
    "enqueue int8_scales" entries (TensorRT's "enqueue" entries are shown, not judged)."""
    if seen is None:
        return True, "scales the plugin saw: not recorded (a plugin library without pykit_scale_record)"
    judged = USED_ENTRY if carried else "enqueue"
    lines, ok, enqueued = [f"Q/DQ scales: {_named(spec, given)}" + (" (also its int8_scales attribute)" if carried else "")], True, False
    for entry in sorted(seen):
        where, scales = parse_scale_entry(entry)
        lines.append(f"{where} {'computed with' if where == USED_ENTRY else 'saw'} {_named(spec, scales)}")
        if where != judged:
            continue
        enqueued = True
        for want, got in zip(given, scales, strict=False):
            if want is not None and (got is None or not math.isclose(got, want, rel_tol=1e-6)):
                ok = False
    if not enqueued:
        lines.append("no int8 enqueue recorded" + (" with the int8_scales attribute applied" if carried else ""))
        ok = ok and not carried  # the attribute was given but no enqueue used it
    return ok, "; ".join(lines)


def scales_handed(spec, backend, precision, case, reference):
    """(validate_case's result, the scales the plugin was handed) for one case on `backend`, the
    library's scale record cleared first: on today's TensorRTBackend (setDynamicRange) it is the
    control for the typed mode's Q/DQ (scripts/gpu-typed-scales.sh)."""
    from pykit.validate import validate_case

    clear_scale_record(spec)
    result = validate_case(spec, backend, precision, case, reference)
    return result, scale_record(spec)


class TypedBackend(TensorRTBackend):
    """The TensorRT backend with the precision asked by tensor types and Q/DQ layers."""

    def __init__(self, form: str, flags: tuple = ()):
        self.form, self.flags = form, tuple(flags)
        self.layers = ""  # the last engine's layers, as the inspector lists them

    def input_dtype(self, kind: str) -> str:
        """The network input type of a spec tensor of dtype `kind` at this form."""
        if kind == "float16":
            return "float16" if self.form == "io" else "float32"
        return "float32" if kind in ("float32", "int8") else kind

    def scales(self, spec, precision, input_scales, output_scales) -> dict:
        """tensor -> int8 scale, for the spec's int8 tensors at this precision."""
        out = {}
        for tensor, s in list(zip(spec.inputs, input_scales)) + list(zip(spec.outputs, output_scales)):
            if tensor.dtype(precision) == "int8":
                out[tensor.name] = float(np.float32(s))
        return out

    def carried_scales(self, spec, precision, input_scales, output_scales) -> list[float]:
        """The int8_scales attribute this form gives the plugin: in the fused form the Q/DQ scales of
        its int8 tensors (spec.int8_tensors order), as pykit calibrate --qdq writes them; else none."""
        if self.form != "fused" or precision != "int8":
            return []
        named = self.scales(spec, precision, input_scales, output_scales)
        return [named[n] for n in spec.int8_tensors]

    def build(self, spec, precision, attrs, profiles, input_scales, output_scales) -> bytes:
        carried = self.carried_scales(spec, precision, input_scales, output_scales)
        if carried:
            attrs = {**attrs, "int8_scales": carried}
        _trt = trt_module()
        (profile,) = profiles  # one exact-shape profile per case (TensorRTBackend.engine)
        inputs = [_trt.InputSpec(t.name, self.input_dtype(t.dtype(precision)), list(lo), list(opt), list(hi))
                  for t, (lo, opt, hi) in zip(spec.inputs, profile)]
        return builder().build_plugin_typed(spec.name, spec.version, spec.namespace, fields_for(spec, attrs), inputs,
                                            [t.name for t in spec.outputs], precision, self.form,
                                            self.scales(spec, precision, input_scales, output_scales), list(self.flags))

    def feeds(self, spec, precision, inputs, input_scales) -> dict:
        feeds = {}
        for tensor, x, s in zip(spec.inputs, inputs, input_scales):
            kind = tensor.dtype(precision)
            if kind == "int8":  # Quantize(s) maps q*s back to q exactly
                x = np.asarray(x, np.float32) * np.float32(s)
            feeds[tensor.name] = np.asarray(x, dtype=self.input_dtype(kind), order="C")
        return feeds

    def given_scales(self, spec, precision, input_scales, output_scales) -> list:
        """The Q/DQ scale of each tensor in spec order (inputs, outputs), None where it is not int8."""
        named = self.scales(spec, precision, input_scales, output_scales)
        return [named.get(t.name) for t in list(spec.inputs) + list(spec.outputs)]

    def run(self, spec, precision, inputs, attrs, input_scales, output_scales):
        clear_scale_record(spec)  # configurePlugin runs at build and at deserialization: clear first
        plan = self.engine(spec, precision, inputs, attrs, input_scales, output_scales)
        engine = trt_module().Engine(plan)
        self.layers = engine.layers()
        result = self.run_engine(engine, spec, precision, inputs, input_scales, output_scales)
        self.scales_given = self.given_scales(spec, precision, input_scales, output_scales)
        self.scales_carried = bool(self.carried_scales(spec, precision, input_scales, output_scales))
        self.scales_seen = scale_record(spec)
        return result


def layer_summary(layers_json: str) -> str:
    """'name [type]: output format; ...' for each engine layer (TensorRT's inspector JSON)."""
    try:
        info = json.loads(layers_json)
    except (json.JSONDecodeError, TypeError):
        return ""
    parts = []
    for layer in info.get("Layers", []):
        if not isinstance(layer, dict):
            parts.append(str(layer))
            continue
        formats = ",".join(str(o.get("Format/Datatype", "?")) for o in layer.get("Outputs", []))
        parts.append(f"{layer.get('Name', '?')} [{layer.get('LayerType', '?')}]: {formats}")
    return "; ".join(parts)


def _ran_label(ran: set) -> str:
    """'FP32' for {'mixed(fp32)'}: the float types the plugin ran with, upper case."""
    kinds = set()
    for r in ran:
        kinds.update(r[len("mixed("):-1].split(",") if r.startswith("mixed(") else [r])
    return "/".join(sorted(k.upper() for k in kinds))


def _variant(spec, precision, form, flags, cases, reference, backend_of) -> dict:
    from pykit.validate import validate_case

    backend = backend_of(form, flags)
    row = {"plugin": spec.name, "precision": precision, "form": form, "flags": ",".join(flags) or "none",
           "cases": 0, "ran": "-", "max_abs_err": math.nan, "layers": "", "scales": "", "result": "PASS", "detail": ""}
    ran, crashes, numeric, other_precision, wrong_scales = set(), [], [], [], []
    for i, case in enumerate(cases):
        try:
            r = validate_case(spec, backend, precision, case, reference)
        except Exception as exc:  # noqa: BLE001 - TensorRT's refusal is the measurement
            if i == 0:
                row.update(result="REFUSED", detail=f"{type(exc).__name__}: {exc}")
                return row
            crashes.append(f"{case.name}: {type(exc).__name__}: {exc}")
            row["cases"] += 1
            continue
        row["cases"] += 1
        ran.add(r.actual_precision)
        row["max_abs_err"] = r.max_abs_err if math.isnan(row["max_abs_err"]) else max(row["max_abs_err"], r.max_abs_err)
        if i == 0:
            row["layers"] = layer_summary(getattr(backend, "layers", ""))
        # validate_case puts "asked for P, the backend ran Q" first; the rest are the numbers' problems
        problems = [p for p in r.message.split("; ") if p and not p.startswith("asked for ")]
        if problems:
            numeric.append(f"{case.name}: {'; '.join(problems)}")
        if r.actual_precision != precision:
            other_precision.append(case.name)
        if precision == "int8" and r.actual_precision == precision and hasattr(backend, "scales_seen"):
            ok, said = scale_check(spec, backend.scales_given, backend.scales_seen,
                                   getattr(backend, "scales_carried", False))
            if i == 0 or not ok and not wrong_scales:
                row["scales"] = f"{case.name}: {said}"[:1500]
            if not ok:
                wrong_scales.append(case.name)
    row["ran"] = ",".join(sorted(ran)) or "-"
    numbers = (f"its outputs were outside the {precision} tolerance in {len(numeric)} of {row['cases']} cases: "
               + " | ".join(numeric) if numeric else f"its outputs were within the {precision} tolerance in every case")
    if crashes:
        row.update(result="FAIL", detail=f"{len(crashes)} of {row['cases']} cases crashed: " + " | ".join(crashes))
    elif other_precision and all(r.startswith("mixed(") for r in ran - {precision}):
        why = WHY_ANOTHER_PRECISION.get((precision, form), "TensorRT chose another precision for the plugin")
        row.update(result=f"RAN {_ran_label(ran - {precision})}",
                   detail=f"{len(other_precision)} of {row['cases']} cases ran {row['ran']}, not {precision}: {why}; "
                          f"not an {precision} result ({numbers})")
    elif other_precision:
        row.update(result="FAIL", detail=f"asked for {precision}, the plugin ran {row['ran']}; {numbers}")
    elif wrong_scales:
        row.update(result="WRONG SCALES",
                   detail=f"{len(wrong_scales)} of {row['cases']} cases: TensorRT handed the plugin other scales than "
                          f"the Q/DQ layers' (see scales), so its int8 arithmetic is not the one asked for; {numbers}")
    elif numeric:
        row.update(result="FAIL", detail=numbers)
    row["detail"] = row["detail"][:2000]
    return row


def run_typed_validation(specs, precisions=("fp32", "fp16", "int8"), seed: int = 0, max_cases: int | None = None,
                         backend_of=TypedBackend, on_row=None) -> list[dict]:
    """One row per plugin x precision x form x builder flags tried (see the module docstring).
    on_row(rows so far) after each row: a report written as it goes survives a time limit."""
    from pykit import registry

    rows = []
    for spec in specs:
        cases = list(registry.entry_point(spec, "cases")(np.random.default_rng(seed)))[:max_cases]
        reference = registry.entry_point(spec, "reference")
        for precision in spec.precisions:
            if precision not in precisions:
                continue
            for form in FORMS[precision]:
                flags = ()
                while True:
                    rows.append(_variant(spec, precision, form, flags, cases, reference, backend_of))
                    if on_row:
                        on_row(rows)
                    retry = rows[-1]["result"] == "REFUSED" or rows[-1]["result"].startswith("RAN ")
                    if not retry or flags or not FLAG[precision]:
                        break
                    flags = (FLAG[precision],)
    return rows


def markdown(rows: list[dict], environment: dict, command: str, today_results=None) -> str:
    """The typed-mode table, next to today's mode (a `pykit validate --backend trt --report` results.json)."""
    from pykit.report import markdown_table

    from pathlib import Path

    today = {}
    # a results.json, or a folder of them (docs/validation/plugins/<Plugin>/results.json: one report per plugin)
    found = [] if today_results is None else (sorted(Path(today_results).glob("*/results.json"))
                                              if Path(today_results).is_dir() else [Path(today_results)])
    found = [f for f in found if f.is_file()]
    if today_results is not None and not found:
        today_results = f"{today_results} (not found)"
    for f in found:
        for s in json.loads(f.read_text()).get("summary", []):
            today[(s["plugin"], s["precision"])] = f"{'PASS' if s['passed'] else 'FAIL'} (ran {s['actual_precision']})"
    lines = ["# Plugin precision the strongly typed way (TensorRT 11's), on TensorRT 8.5", "",
             "Reproduce (from the repository root):", "", "```", command, "```", "",
             "How each form is built and judged: `pykit/validate_typed.py`'s docstring. 'today' is the same plugin "
             "x precision in today's mode (builder precision flag + forced output type + obey constraints, int8 by "
             f"setDynamicRange), from {today_results or '(not given: --compare)'}. REFUSED: TensorRT did not build the first case; "
             "its error follows. RAN FP32: TensorRT ran the plugin in fp32 under this form, so the row is no result "
             "at the precision asked (the detail says why and whether the numbers were in tolerance anyway). WRONG "
             "SCALES: the plugin ran int8 but computed with other scales than the Q/DQ layers' (the scales TensorRT "
             "handed it in configurePlugin and at enqueue follow, and in the fused form, where the plugin carries the "
             "Q/DQ scales in its int8_scales attribute, the scales it computed with: 'enqueue int8_scales'). A form refused, or run in another precision, with no builder "
             "flag is tried again with the flag, so a flag shows only where 8.5 needed it.", "", "## Environment", ""]
    lines += [f"- {k}: {v}" for k, v in environment.items()]
    lines += ["", "## Results", "", markdown_table(
        ["plugin", "precision", "form", "builder flags", "cases", "plugin ran (enqueue)", "max abs err", "result",
         "today's mode"],
        [[r["plugin"], r["precision"], r["form"], r["flags"], r["cases"], r["ran"], r["max_abs_err"], r["result"],
          today.get((r["plugin"], r["precision"]), "-")] for r in rows])]
    details = [r for r in rows if r["detail"] or r["layers"] or r.get("scales")]
    if details:
        lines += ["", "## Engine layers and refusals", ""]
        for r in details:
            lines += [f"- **{r['plugin']} {r['precision']} {r['form']} (flags: {r['flags']})**: {r['result']}"]
            if r["layers"]:
                lines += [f"  - layers (first case): {r['layers']}"]
            if r.get("scales"):
                lines += [f"  - scales: {r['scales']}"]
            if r["detail"]:
                lines += [f"  - {r['detail']}"]
    return "\n".join(lines) + "\n"
