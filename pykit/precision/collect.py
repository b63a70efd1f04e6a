"""Activation collection: run a model over a data stream and feed chosen tensors to calibrators.

The default executor is onnxruntime on CPU, with the chosen intermediate tensors added as extra
graph outputs (:func:`expose_tensors`).  Any other executor -- e.g. the reference evaluator for
patched models whose plugin nodes onnxruntime cannot run -- plugs in as a callable
``run(feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]`` that returns (at least) every
tensor being calibrated.  Graph inputs are calibrated from the feeds themselves.

Only histograms stay in memory: each batch's activations are dropped once their calibrators have
seen them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable

import numpy as np

from .batches import Batch, BatchStream
from .calibrators import Calibrator, make_calibrator

__all__ = ["CalibrationResult", "OnnxRuntimeRunner", "bind_feeds", "calibrate", "default_tensors", "expose_tensors"]

_FLOAT_TYPES = None  # filled lazily: onnx float element types


def _load(model):
    import onnx

    if isinstance(model, onnx.ModelProto):
        return model
    return onnx.load(str(model))


def _float_types():
    global _FLOAT_TYPES
    if _FLOAT_TYPES is None:
        from onnx import TensorProto

        _FLOAT_TYPES = {TensorProto.FLOAT, TensorProto.FLOAT16, TensorProto.BFLOAT16, TensorProto.DOUBLE}
    return _FLOAT_TYPES


def _graph_inputs(model) -> list[str]:
    inits = {i.name for i in model.graph.initializer}
    return [i.name for i in model.graph.input if i.name not in inits]


def _value_infos(model) -> dict:
    """ValueInfoProto per tensor name, from the graph and onnx shape inference."""
    import onnx

    try:
        inferred = onnx.shape_inference.infer_shapes(model)
    except Exception:
        inferred = model
    g = inferred.graph
    return {vi.name: vi for vi in list(g.input) + list(g.value_info) + list(g.output)
            if vi.type.HasField("tensor_type") and vi.type.tensor_type.elem_type}


def _tensor_types(model) -> dict:
    """elem_type per tensor name, from the graph and onnx shape inference."""
    types = {name: vi.type.tensor_type.elem_type for name, vi in _value_infos(model).items()}
    for init in model.graph.initializer:
        types[init.name] = init.data_type
    return types


def default_tensors(model) -> list[str]:
    """Every floating-point activation: graph inputs and node outputs (not constants/initializers).

    Tensors whose type onnx cannot infer (e.g. outputs of custom plugin ops) are included too.
    """
    model = _load(model)
    types = _tensor_types(model)
    floats = _float_types()
    inits = {i.name for i in model.graph.initializer}
    names: list[str] = []
    for name in _graph_inputs(model):
        if types.get(name) in floats:
            names.append(name)
    for node in model.graph.node:
        if node.op_type == "Constant":
            continue
        for out in node.output:
            if out and out not in inits and out not in names and types.get(out, 1) in floats:
                names.append(out)
    return names


def expose_tensors(model, names: Iterable[str]):
    """A copy of ``model`` whose graph outputs also include ``names`` (existing outputs kept first)."""
    import onnx
    from onnx import TensorProto, helper

    model = _load(model)
    out = onnx.ModelProto()
    out.CopyFrom(model)
    infos = _value_infos(model)
    produced = {o for n in model.graph.node for o in n.output if o}
    existing = {o.name for o in out.graph.output}
    for name in names:
        if name in existing:
            continue
        if name not in produced:
            raise KeyError(f"tensor {name!r} is not produced by any node of the model")
        if name in infos:  # inferred type and shape
            out.graph.output.append(infos[name])
        else:  # e.g. a custom op's output: float, shape unknown
            out.graph.output.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, None))
        existing.add(name)
    return out


class OnnxRuntimeRunner:
    """``run(feeds) -> {name: array}`` on onnxruntime's CPU provider, returning all graph outputs
    plus the exposed intermediate ``tensors``."""

    def __init__(self, model, tensors: Iterable[str] = (), threads: int | None = None) -> None:
        import onnxruntime as ort

        model = _load(model)
        self.input_names = _graph_inputs(model)
        inputs = set(self.input_names)
        exposed = expose_tensors(model, [t for t in tensors if t not in inputs])
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        if threads:
            opts.intra_op_num_threads = threads
        self.session = ort.InferenceSession(exposed.SerializeToString(), opts, providers=["CPUExecutionProvider"])
        self.output_names = [o.name for o in self.session.get_outputs()]
        self.input_types = {i.name: i.type for i in self.session.get_inputs()}

    def __call__(self, feeds: dict) -> dict:
        feeds = {k: _cast_feed(v, self.input_types.get(k)) for k, v in feeds.items()}
        values = self.session.run(self.output_names, feeds)
        return dict(zip(self.output_names, values))


_ORT_TYPES = {
    "tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(double)": np.float64,
    "tensor(int64)": np.int64, "tensor(int32)": np.int32, "tensor(int8)": np.int8, "tensor(uint8)": np.uint8,
    "tensor(bool)": np.bool_,
}


def _cast_feed(value, ort_type):
    dtype = _ORT_TYPES.get(ort_type)
    value = np.asarray(value)
    return value.astype(dtype, copy=False) if dtype is not None else value


def bind_feeds(batch: Batch, input_names: list[str] | None) -> dict:
    """Map a batch's arrays to model inputs: by name, or a lone array to a lone input."""
    arrays = batch.inputs
    if not input_names:
        return dict(arrays)
    if set(input_names) <= set(arrays):
        return {n: arrays[n] for n in input_names}
    if len(arrays) == 1 and len(input_names) == 1:
        return {input_names[0]: next(iter(arrays.values()))}
    missing = sorted(set(input_names) - set(arrays))
    raise KeyError(f"batch provides {sorted(arrays)} but the model needs inputs {input_names} (missing {missing}); "
                   f"name .npz arrays after the model inputs")


@dataclass
class CalibrationResult:
    """Calibrators per tensor after a pass over the data, with their amax and scales; ``ties``
    (output -> input, :func:`pykit.precision.scale_ties.tied_inputs`) gives a scale-preserving op's
    output its input's amax, as TensorRT does with MaxPool."""

    calibrators: dict
    batches: int
    samples: int
    ties: dict = field(default_factory=dict)

    def amax(self) -> dict:
        own = {name: c.compute_amax() for name, c in self.calibrators.items()}
        return {name: own.get(self.ties.get(name), a) for name, a in own.items()}

    def scales(self) -> dict:
        from .numerics import scale_from_amax

        return {name: scale_from_amax(a) for name, a in self.amax().items()}

    @property
    def cache_algorithm(self) -> str:
        first = next(iter(self.calibrators.values()), None)
        return first.cache_algorithm if first is not None else "EntropyCalibration2"


def calibrate(model=None, data=None, *, algo: str = "entropy", tensors: Iterable[str] | None = None,
              run: Callable[[dict], dict] | None = None, input_names: list[str] | None = None,
              batch_size: int | None = None, skip: int = 0, max_batches: int | None = None,
              drop_last: bool = False, percentile: float = 99.99,
              make: Callable[[], Calibrator] | None = None, progress: bool = True) -> CalibrationResult:
    """Run ``model`` (or ``run``) over ``data`` and calibrate each of ``tensors``.

    ``model``: ONNX path or ModelProto (needed unless ``run`` and ``tensors`` are both given).
    ``data``: a :class:`BatchStream` or anything :class:`BatchStream` accepts (re-batched to
    ``batch_size``, skipping ``skip`` batches).  ``tensors`` defaults to every float activation
    (:func:`default_tensors`).  ``run`` replaces onnxruntime: ``run(feeds) -> {name: array}``.
    ``make`` builds a calibrator per tensor (default: ``make_calibrator(algo, percentile)``).
    """
    if data is None:
        raise ValueError("no calibration data given")
    proto = _load(model) if model is not None else None
    if tensors is None:
        if proto is None:
            raise ValueError("give the model or the list of tensors to calibrate")
        tensors = default_tensors(proto)
    tensors = list(dict.fromkeys(tensors))
    if not tensors:
        raise ValueError("no tensors to calibrate")
    if input_names is None:
        if proto is not None:
            input_names = _graph_inputs(proto)
        else:
            input_names = getattr(run, "input_names", None)
    if run is None:
        if proto is None:
            raise ValueError("give a model or a run(feeds) callable")
        run = OnnxRuntimeRunner(proto, tensors)
    stream = data if isinstance(data, BatchStream) else BatchStream(
        data, batch_size=batch_size, skip=skip, max_batches=max_batches, drop_last=drop_last)
    factory = make or (lambda: make_calibrator(algo, percentile=percentile))
    calibrators = {t: factory() for t in tensors}

    bar = None
    if progress:
        try:
            from tqdm import tqdm

            bar = tqdm(total=stream.num_batches(), desc="calibrating", unit="batch", leave=False)
        except ImportError:  # progress bars are a nicety
            bar = None
    batches = samples = 0
    try:
        for batch in stream:
            feeds = bind_feeds(batch, input_names)
            try:
                outputs = run(feeds)
            except Exception as e:
                shapes = {k: tuple(np.shape(v)) for k, v in feeds.items()}
                raise RuntimeError(f"batch {batches}: running the model on {shapes} failed: {e}") from e
            for name, cal in calibrators.items():
                if name in outputs:
                    value = outputs[name]
                elif name in feeds:
                    value = feeds[name]
                else:
                    raise KeyError(f"executor returned no tensor {name!r} (it returned {sorted(outputs)[:8]}...)")
                try:
                    cal.collect(value)
                except ValueError as e:
                    raise ValueError(f"tensor {name!r}, batch {batches}: {e}") from None
            batches += 1
            samples += len(batch)
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    if batches == 0:
        raise ValueError("the calibration data stream yielded no batches (check --skip and the data path)")
    from .scale_ties import tied_inputs

    return CalibrationResult(calibrators, batches, samples, tied_inputs(proto) if proto is not None else {})
