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
  the form TensorRT needs to keep a plugin in int8 (Q -> plugin(int8 in/out) -> DQ);
* int8 ``qdq``: a Q -> DQ pair on every plugin input and output (what ``insert_qdq`` writes on
  tensors), left to TensorRT's Q/DQ fusion to turn into the fused form, or not.

Cases, inputs, scales, expectations and tolerances are those of ``pykit.validate`` (an int8 input is
fed as its dequantized float32 values q*s, which Quantize(s) maps back to q exactly; an int8 output
is the Dequantize's q*s_out, requantized exactly). What the plugin ran is its enqueue record; the
engine's layers (name, type, output format) are TensorRT's inspector's. A form whose first case
fails to build is REFUSED with TensorRT's exact error (its other cases are not tried); a form that
builds but computes out of tolerance, or runs the plugin in another precision, FAILs.
"""
from __future__ import annotations

import json
import math

import numpy as np

from pykit.backends.trt import TensorRTBackend, builder, fields_for, trt_module

#: precision -> forms, each tried with no builder flag, then (if refused) with FLAG[precision]
FORMS = {"fp32": ("types",), "fp16": ("io", "cast"), "int8": ("fused", "qdq")}
FLAG = {"fp32": None, "fp16": "fp16", "int8": "int8"}


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

    def build(self, spec, precision, attrs, profiles, input_scales, output_scales) -> bytes:
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

    def run(self, spec, precision, inputs, attrs, input_scales, output_scales):
        plan = self.engine(spec, precision, inputs, attrs, input_scales, output_scales)
        engine = trt_module().Engine(plan)
        self.layers = engine.layers()
        return self.run_engine(engine, spec, precision, inputs, input_scales, output_scales)


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


def _variant(spec, precision, form, flags, cases, reference, backend_of) -> dict:
    from pykit.validate import validate_case

    backend = backend_of(form, flags)
    row = {"plugin": spec.name, "precision": precision, "form": form, "flags": ",".join(flags) or "none",
           "cases": 0, "ran": "-", "max_abs_err": math.nan, "layers": "", "result": "PASS", "detail": ""}
    ran, failures = set(), []
    for i, case in enumerate(cases):
        try:
            r = validate_case(spec, backend, precision, case, reference)
        except Exception as exc:  # noqa: BLE001 - TensorRT's refusal is the measurement
            if i == 0:
                row.update(result="REFUSED", detail=f"{type(exc).__name__}: {exc}")
                return row
            failures.append(f"{case.name}: {type(exc).__name__}: {exc}")
            row["cases"] += 1
            continue
        row["cases"] += 1
        ran.add(r.actual_precision)
        row["max_abs_err"] = r.max_abs_err if math.isnan(row["max_abs_err"]) else max(row["max_abs_err"], r.max_abs_err)
        if i == 0:
            row["layers"] = layer_summary(getattr(backend, "layers", ""))
        if not r.passed:
            failures.append(f"{case.name}: {r.message}")
    row["ran"] = ",".join(sorted(ran)) or "-"
    if failures:
        row.update(result="FAIL", detail=f"{len(failures)} of {row['cases']} cases: " + " | ".join(failures)[:2000])
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
                    if rows[-1]["result"] != "REFUSED" or flags or not FLAG[precision]:
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
             "its error follows. A form refused with no builder flag is tried again with the flag, so a flag shows "
             "only where 8.5 needed it.", "", "## Environment", ""]
    lines += [f"- {k}: {v}" for k, v in environment.items()]
    lines += ["", "## Results", "", markdown_table(
        ["plugin", "precision", "form", "builder flags", "cases", "plugin ran (enqueue)", "max abs err", "result",
         "today's mode"],
        [[r["plugin"], r["precision"], r["form"], r["flags"], r["cases"], r["ran"], r["max_abs_err"], r["result"],
          today.get((r["plugin"], r["precision"]), "-")] for r in rows])]
    details = [r for r in rows if r["detail"] or r["layers"]]
    if details:
        lines += ["", "## Engine layers and refusals", ""]
        for r in details:
            lines += [f"- **{r['plugin']} {r['precision']} {r['form']} (flags: {r['flags']})**: {r['result']}"]
            if r["layers"]:
                lines += [f"  - layers (first case): {r['layers']}"]
            if r["detail"]:
                lines += [f"  - {r['detail']}"]
    return "\n".join(lines) + "\n"
