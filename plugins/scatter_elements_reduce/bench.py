"""ScatterElementsReduce: ONNX ScatterElements(reduction=add, axis=0) of 1M update rows of 16
features into data of 262,144 x 16 (a voxel/segment sum), destinations uniform at random, in the
two forms the plugin takes:
  rows      one int32 index per row ([1M, 1], broadcast_indices = 1): what rules.py makes of the
            exported Expand(row index) -> ScatterElements (issue 16; the committed shape);
  elements  indices as ONNX and TensorRT hand them over without the rule: int32, the shape of
            updates (each row's destination repeated over its 16 features).

PyTorch baselines (the faster one is the table's): ``data.scatter_add(0, index, updates)`` with
the int64 row index expanded (stride 0, so torch reads 8 bytes per row, not per element), and
``data.index_add(0, rows, updates)``. Both are out of place (the copy of data included), as the
plugin's output is. torch accumulates fp16 in fp16; the plugin accumulates in fp32.
No int8: the spec says why (an accumulator's range grows with the reduction).
"""
from __future__ import annotations

import numpy as np

from pykit.bench.case import BenchCase, Traffic

ITEMSIZE = {"fp32": 4, "fp16": 2}
TARGETS_MS = {"fp32": 0.037, "fp16": 0.020}  # issue 7 (counted with one index per row: see README)


def traffic(rows: int, updates: int, features: int, itemsize: int, index_itemsize: int = 4,
            form: str = "elements") -> Traffic:
    data = rows * features * itemsize
    upd = updates * features * itemsize
    if form == "rows":
        return Traffic(2 * data + upd + updates * index_itemsize,
                       "2*N*F*s (data read, output written) + U*F*s (updates) + U*4 (int32 indices, one per row: "
                       "broadcast_indices); s = bytes per element")
    idx = updates * features * index_itemsize
    return Traffic(2 * data + upd + idx,
                   "2*N*F*s (data read, output written) + U*F*s (updates) + U*F*4 (int32 indices, one per update "
                   "element as ONNX ScatterElements has them); s = bytes per element")


class ScatterAddCase(BenchCase):
    plugin = "ScatterElementsReduce"

    def __init__(self, precision: str, form: str = "rows", rows: int = 262144, updates: int = 1 << 20,
                 features: int = 16, seed: int = 0):
        self.precision, self.rows, self.updates, self.features, self.seed = precision, rows, updates, features, seed
        self.form = form
        self.shape = f"data {rows}x{features}, {updates}x{features} updates, axis 0, add, {form} index"
        self.target_ms = TARGETS_MS.get(precision) if form == "rows" else None
        self.note = ("one int32 index per row (broadcast_indices), torch one int64 per row" if form == "rows" else
                     "torch reads one int64 index per row; the plugin one int32 per element (ONNX)")

    def traffic(self) -> Traffic:
        return traffic(self.rows, self.updates, self.features, ITEMSIZE[self.precision], form=self.form)

    def _inputs_numpy(self):
        rng = np.random.default_rng(self.seed)
        dtype = np.float32 if self.precision == "fp32" else np.float16
        data = rng.standard_normal((self.rows, self.features)).astype(dtype)
        rows = rng.integers(0, self.rows, size=self.updates).astype(np.int32)
        upd = rng.standard_normal((self.updates, self.features)).astype(dtype)
        return data, rows, upd

    def setup(self, torch, launcher, stream):
        self.torch, self.launcher, self.stream = torch, launcher, stream
        data, rows, upd = self._inputs_numpy()
        self.t_data = torch.from_numpy(data).cuda()
        self.t_upd = torch.from_numpy(upd).cuda()
        self.t_rows64 = torch.from_numpy(rows).cuda().long()
        if self.form == "rows":
            self.t_idx32 = self.t_rows64.int()[:, None].contiguous()
            self.update_shape = list(self.t_upd.shape)
        else:
            self.t_idx32 = self.t_rows64.int()[:, None].expand(-1, self.features).contiguous()
            self.update_shape = []
        self.t_idx64_expanded = self.t_rows64[:, None].expand(-1, self.features)
        self.t_out = torch.empty_like(self.t_data)
        ws = launcher.workspace(self.precision, list(self.t_data.shape), list(self.t_idx32.shape), 0, self.update_shape)
        self.t_ws = torch.empty(max(ws, 1), dtype=torch.uint8, device="cuda")

    def ours(self):
        self.launcher.launch(self.precision, "int32", "add", self.t_data.data_ptr(), self.t_idx32.data_ptr(),
                             self.t_upd.data_ptr(), self.t_out.data_ptr(), self.t_ws.data_ptr(),
                             list(self.t_data.shape), list(self.t_idx32.shape), 0, self.stream, self.update_shape)

    def baselines(self):
        return {"scatter_add (expanded int64 row index)":
                    lambda: self.t_data.scatter_add(0, self.t_idx64_expanded, self.t_upd),
                "index_add (int64 rows)": lambda: self.t_data.index_add(0, self.t_rows64, self.t_upd)}

    def check(self):
        torch = self.torch
        self.t_out.fill_(float("nan"))
        self.ours()
        torch.cuda.synchronize()
        ref = self.t_data.double().index_add(0, self.t_rows64, self.t_upd.double())
        got = self.t_out.double()
        if not bool(torch.isfinite(got).all()):
            return {"ok": False, "detail": "non-finite outputs (unwritten elements?)"}
        expected = ref if self.precision == "fp32" else ref.half().double()
        rel = float(torch.linalg.vector_norm(got - ref) / torch.linalg.vector_norm(ref))
        worst = float((got - expected).abs().max())
        # fp32: a handful of fp32 additions per element; fp16: one binary16 rounding of the fp32 sum
        limit = 1e-6 if self.precision == "fp32" else 5e-4
        ok = rel < limit
        return {"ok": ok, "detail": f"|out - ref|/|ref| = {rel:.2e} (float64 reference; limit {limit:g}), "
                                    f"max |out - expected| = {worst:.2e}"}

    def trt_call(self):
        data, rows, upd = self._inputs_numpy()
        if self.form == "rows":
            return [data, np.ascontiguousarray(rows[:, None]), upd], {"axis": 0, "reduction": "add",
                                                                      "broadcast_indices": 1}, [], []
        idx = np.ascontiguousarray(np.broadcast_to(rows[:, None], upd.shape))
        return [data, idx, upd], {"axis": 0, "reduction": "add"}, [], []


def cases(precisions):
    return [ScatterAddCase(p, form) for form in ("rows", "elements") for p in ("fp32", "fp16") if p in precisions]


REDUCTIONS = ("none", "add", "mul", "max", "min")


def launch_case(torch, launcher, stream, precision, inputs, attrs, input_scales, output_scales):
    data, idx, upd = (np.ascontiguousarray(x) for x in inputs)
    t_data = torch.from_numpy(data).cuda()
    t_idx = torch.from_numpy(np.ascontiguousarray(idx, dtype=np.int32)).cuda()
    t_upd = torch.from_numpy(upd).cuda()
    out = torch.empty_like(t_data)
    out.view(torch.uint8).fill_(0x7F)
    rank = data.ndim
    update_shape = list(upd.shape) if attrs.get("broadcast_indices") else []
    ws = launcher.workspace(precision, list(data.shape), list(idx.shape), attrs["axis"], update_shape)
    t_ws = torch.empty(max(ws, 1), dtype=torch.uint8, device="cuda")
    launcher.launch(precision, "int32", attrs["reduction"], t_data.data_ptr(), t_idx.data_ptr(),
                    t_upd.data_ptr(), out.data_ptr(), t_ws.data_ptr(), list(data.shape),
                    list(idx.shape), attrs["axis"] % rank if rank else 0, stream, update_shape)
    torch.cuda.synchronize()
    return [out.cpu().numpy()]
