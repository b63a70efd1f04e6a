"""Validate plugins against their numpy references, per precision, on any backend.

For one case at one precision:
1. inputs are made the precision's types: float tensors rounded to binary16 (fp16) or quantized
   with a symmetric per-tensor scale amax/127 (int8, pykit.precision.numerics);
2. the reference runs in float64 on exactly the values the plugin receives (the dequantized int8
   values, the binary16 values), so the tolerance covers the plugin's own error only;
3. int8 outputs get the scale a calibrator would give them, amax(reference)/127, and the
   expectation is the reference clipped to that output's range [-127 s, 127 s];
4. each output element must satisfy |got - expected| <= abs + rel*|expected| + steps*s (the
   spec's tolerance for that precision); dtype and shape must match the spec; the backend must
   report that the precision asked for is the one that ran.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from pykit import registry
from pykit.case import Case
from pykit.precision import numerics
from pykit.spec import PluginSpec

NUMPY_DTYPES = {
    "float32": np.float32,
    "float16": np.float16,
    "int8": np.int8,
    "int32": np.int32,
    "int64": np.int64,
    "bool": np.bool_,
}


@dataclass
class CaseResult:
    plugin: str
    precision: str
    case: str
    actual_precision: str
    shapes: str
    max_abs_err: float
    max_rel_err: float
    worst_fraction: float  # max over elements of err / allowed (<= 1 passes)
    tolerance: str
    passed: bool
    message: str = ""
    histogram: list = None  # counts of |error| per error_histogram bin, all outputs together


# |error| histogram bins: exactly 0, then decades 1e-12 .. 1e2 (the last bin takes the rest).
ERROR_EDGES = [0.0] + [10.0**k for k in range(-12, 3)]


def error_histogram(err: np.ndarray) -> list[int]:
    """[count of exact zeros] + counts in (0, 1e-12), [1e-12, 1e-11), ..., [1e2, inf)."""
    counts = [int(np.count_nonzero(err == 0))]
    counts += [int(c) for c in np.histogram(err[err > 0], bins=[0.0] + ERROR_EDGES[1:] + [math.inf])[0]]
    return counts


@dataclass
class Summary:
    plugin: str
    precision: str
    cases: int
    actual_precision: str
    max_abs_err: float
    max_rel_err: float
    worst_fraction: float
    tolerance: str
    passed: bool

    @property
    def verdict(self) -> str:
        return "PASS" if self.passed else "FAIL"


def to_precision(x: np.ndarray, dtype: str, scale: float = 1.0):
    """(x as the plugin receives it in `dtype`, the value the reference sees: float64 or integer).
    Float x becomes int8 by quantization with `scale`, float16 by rounding."""
    if dtype == "int8" and x.dtype.kind == "f":
        q = numerics.quantize_int8(x, scale)
        return q, numerics.dequantize_int8(q, scale).astype(np.float64)
    if dtype == "float16":
        h = numerics.to_fp16(x)
        return h, h.astype(np.float64)
    t = x.astype(NUMPY_DTYPES[dtype])
    return t, t.astype(np.float64) if dtype == "float32" else t


def fit_rank(x: np.ndarray, tensor, precision: str, where: str) -> np.ndarray:
    """x itself when its rank is one the spec allows at this precision; else x with leading unit
    dimensions up to the nearest allowed rank (a spec narrows a precision's ranks when TensorRT has
    no format for some rank, e.g. INT8 [P, C]: the same data as [1, P, C])."""
    allowed = tensor.ranks_at(precision)
    if x.ndim in allowed:
        return x
    higher = [r for r in allowed if r > x.ndim]
    if not higher:
        raise ValueError(f"{where}: input '{tensor.name}' has rank {x.ndim}; the spec allows {list(allowed)} at {precision}")
    return x.reshape((1,) * (min(higher) - x.ndim) + x.shape)


def prepare_inputs(spec: PluginSpec, precision: str, case: Case):
    """(typed inputs in spec order, float64/int reference inputs by name, int8 input scales)."""
    typed, reference, scales = [], {}, []
    missing = [t.name for t in spec.inputs if t.name not in case.inputs]
    if missing:
        raise ValueError(f"{spec.name}: case '{case.name}' lacks input(s) {missing}")
    for tensor in spec.inputs:
        x = fit_rank(np.asarray(case.inputs[tensor.name]), tensor, precision, f"{spec.name}: case '{case.name}'")
        dtype = tensor.dtype(precision)
        scale = 1.0
        if dtype == "int8" and x.dtype.kind == "f":
            scale = numerics.scale_from_amax(float(np.max(np.abs(x))) if x.size else 0.0)
        value, reference[tensor.name] = to_precision(x, dtype, scale)
        typed.append(value)
        scales.append(scale)
    return typed, reference, scales


def expectations(spec: PluginSpec, precision: str, ref_outputs: dict):
    """(expected float64 arrays in spec order, int8 output scales: 1.0 for float outputs)."""
    expected, scales = [], []
    for tensor in spec.outputs:
        if tensor.name not in ref_outputs:
            raise ValueError(f"{spec.name}: the reference returned no output '{tensor.name}'")
        ref = np.asarray(ref_outputs[tensor.name], dtype=np.float64)
        scale = 1.0
        if tensor.dtype(precision) == "int8":
            finite = np.abs(ref[np.isfinite(ref)])
            scale = numerics.scale_from_amax(float(finite.max()) if finite.size else 0.0)
            # int8 has no NaN: quantization maps NaN to 0 and saturates +-inf (plugins/common/numeric.h)
            ref = np.clip(np.where(np.isnan(ref), 0.0, ref), numerics.INT8_MIN * scale, numerics.INT8_MAX * scale)
        expected.append(ref)
        scales.append(scale)
    return expected, scales


def compare(spec: PluginSpec, precision: str, got: list, expected: list, scales: list):
    """(max abs err, max rel err, worst err/allowed, problems, |error| histogram) over all outputs."""
    tol = spec.tolerances[precision]
    max_abs = max_rel = worst = 0.0
    problems = []
    histogram = [0] * (len(ERROR_EDGES) + 1)  # error_histogram's bins: zeros, then len(ERROR_EDGES)
    if len(got) != len(expected):
        return math.inf, math.inf, math.inf, [f"{len(got)} outputs, the spec has {len(expected)}"], histogram
    for tensor, g, e, s in zip(spec.outputs, got, expected, scales):
        g = np.asarray(g)
        want = NUMPY_DTYPES[tensor.dtype(precision)]
        if g.dtype != want:
            problems.append(f"output '{tensor.name}' is {g.dtype}, the spec says {np.dtype(want)} at {precision}")
            continue
        if g.shape != e.shape:
            problems.append(f"output '{tensor.name}' has shape {g.shape}, the reference {e.shape}")
            continue
        value = g.astype(np.float64) * (s if tensor.dtype(precision) == "int8" else 1.0)
        both_nan = np.isnan(value) & np.isnan(e)
        same_inf = np.isinf(e) & (value == e)
        err = np.where(both_nan | same_inf, 0.0, np.abs(value - e))
        err = np.nan_to_num(err, nan=math.inf)
        allowed = tol.bound(np.abs(np.where(np.isfinite(e), e, 0.0)), s if tensor.dtype(precision) == "int8" else 0.0)
        histogram = [a + b for a, b in zip(histogram, error_histogram(err), strict=True)]
        if err.size:
            max_abs = max(max_abs, float(err.max()))
            nonzero = np.abs(e) > 0
            if nonzero.any():
                max_rel = max(max_rel, float((err[nonzero] / np.abs(e[nonzero])).max()))
            frac = np.where(err == 0, 0.0, err / np.where(allowed > 0, allowed, 1e-300))
            worst = max(worst, float(frac.max()))
            bad = int(np.count_nonzero(err > allowed))
            if bad:
                i = np.unravel_index(int(np.argmax(frac)), err.shape)
                problems.append(f"output '{tensor.name}': {bad} of {err.size} elements out of tolerance; worst at "
                                f"{tuple(int(k) for k in i)}: got {value[i]:.9g}, expected {e[i]:.9g}")
    return max_abs, max_rel, worst, problems, histogram


def validate_case(spec: PluginSpec, backend, precision: str, case: Case, reference) -> CaseResult:
    typed, ref_inputs, in_scales = prepare_inputs(spec, precision, case)
    attrs = spec.resolve_attributes(case.attrs)
    expected, out_scales = expectations(spec, precision, reference(ref_inputs, attrs))
    shapes = " ".join("x".join(map(str, np.shape(x))) or "scalar" for x in typed)
    run = backend.run(spec, precision, typed, attrs, in_scales, out_scales)
    max_abs, max_rel, worst, problems, histogram = compare(spec, precision, run.outputs, expected, out_scales)
    if run.actual_precision != precision:
        problems.insert(0, f"asked for {precision}, the backend ran {run.actual_precision}")
    return CaseResult(spec.name, precision, case.name, run.actual_precision, shapes, max_abs, max_rel, worst,
                      spec.tolerances[precision].describe(), not problems, "; ".join(problems), histogram)


def run_validation(specs: list[PluginSpec], backend, precisions=None, seed: int = 0, progress: bool = True):
    """Every plugin x precision (those the spec supports) x case. Returns the CaseResults."""
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"validate: seed must be a non-negative integer, got {seed!r}")
    jobs = []
    for spec in specs:
        cases = list(registry.entry_point(spec, "cases")(np.random.default_rng(seed)))
        reference = registry.entry_point(spec, "reference")
        for precision in spec.precisions:
            if precisions is None or precision in precisions:
                jobs += [(spec, precision, case, reference) for case in cases]
    bar = None
    if progress:
        try:
            from tqdm import tqdm

            bar = tqdm(total=len(jobs), desc="validate", unit="case", leave=False)
        except ImportError:  # a bare GPU machine may lack tqdm: no bar then
            pass
    results = []
    for spec, precision, case, reference in jobs:
        try:
            results.append(validate_case(spec, backend, precision, case, reference))
        except Exception as exc:  # a crash is a FAIL of that case, named, not a lost run
            results.append(CaseResult(spec.name, precision, case.name, "-", "-", math.inf, math.inf, math.inf,
                                      spec.tolerances[precision].describe(), False, f"{type(exc).__name__}: {exc}"))
        if bar:
            bar.update()
    if bar:
        bar.close()
    return results


def summarize(results: list[CaseResult]) -> list[Summary]:
    groups: dict[tuple[str, str], list[CaseResult]] = {}
    for r in results:
        groups.setdefault((r.plugin, r.precision), []).append(r)
    out = []
    for (plugin, precision), rs in groups.items():
        out.append(Summary(plugin, precision, len(rs), ",".join(sorted({r.actual_precision for r in rs})),
                           max(r.max_abs_err for r in rs), max(r.max_rel_err for r in rs),
                           max(r.worst_fraction for r in rs), rs[0].tolerance, all(r.passed for r in rs)))
    return out


def to_json(results: list[CaseResult]) -> list[dict]:
    return [asdict(r) for r in results]
