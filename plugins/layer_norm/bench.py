"""LayerNorm: rows of 1024 and 4096 (4096 x 1024, 16384 x 4096), normalized over the last dim,
with scale and bias, epsilon 1e-5. PyTorch baseline: torch.nn.functional.layer_norm; at int8
torch has no int8 layer norm, so its baseline dequantizes x, scale and bias, runs the fp32
layer_norm and quantizes y (what a Q/DQ graph around the fp32 op computes)."""
from __future__ import annotations

import numpy as np

from pykit.bench.case import BenchCase, Traffic

ITEMSIZE = {"fp32": 4, "fp16": 2, "int8": 1}
TARGETS_MS = {((4096, 1024), "fp32"): 0.011, ((4096, 1024), "fp16"): 0.006,
              ((16384, 4096), "fp32"): 0.158, ((16384, 4096), "fp16"): 0.079}
EPS = 1e-5
S_X, S_SCALE, S_BIAS, S_Y = 4.0 / 127, 2.0 / 127, 1.0 / 127, 8.0 / 127  # int8 scales (amax / 127)


def traffic(rows: int, cols: int, itemsize: int) -> Traffic:
    return Traffic(2 * rows * cols * itemsize + 2 * cols * itemsize,
                   "2*rows*cols*s (x read, y written) + 2*cols*s (scale, bias); s = bytes per element")


class LayerNormCase(BenchCase):
    plugin = "LayerNorm"

    def __init__(self, precision: str, rows: int, cols: int, seed: int = 0):
        self.precision, self.rows, self.cols, self.seed = precision, rows, cols, seed
        self.shape = f"{rows}x{cols}"
        self.target_ms = TARGETS_MS.get(((rows, cols), precision))
        self.baseline_name = ("F.layer_norm on dequantized x, quantize y" if precision == "int8"
                              else "torch.nn.functional.layer_norm")

    def traffic(self) -> Traffic:
        return traffic(self.rows, self.cols, ITEMSIZE[self.precision])

    def _inputs_numpy(self):
        rng = np.random.default_rng(self.seed)
        x = (rng.standard_normal((self.rows, self.cols)) * 1.5 + 0.3).astype(np.float32)
        g = (1.0 + 0.5 * rng.standard_normal(self.cols)).astype(np.float32)
        b = (0.2 * rng.standard_normal(self.cols)).astype(np.float32)
        if self.precision == "int8":
            q = lambda v, s: np.clip(np.rint(v / s), -127, 127).astype(np.int8)  # noqa: E731
            return q(x, S_X), q(g, S_SCALE), q(b, S_BIAS)
        dt = np.float32 if self.precision == "fp32" else np.float16
        return x.astype(dt), g.astype(dt), b.astype(dt)

    def setup(self, torch, launcher, stream):
        self.torch, self.launcher, self.stream = torch, launcher, stream
        x, g, b = self._inputs_numpy()
        self.t_x, self.t_g, self.t_b = (torch.from_numpy(a).cuda() for a in (x, g, b))
        self.t_y = torch.empty_like(self.t_x)
        if self.precision == "int8":
            self.t_xf = self.t_x.float() * S_X
            self.t_gf = self.t_g.float() * S_SCALE
            self.t_bf = self.t_b.float() * S_BIAS

    def ours(self):
        scales = (S_X, S_SCALE, S_BIAS, S_Y) if self.precision == "int8" else (1.0, 1.0, 1.0, 1.0)
        self.launcher.launch(self.precision, self.t_x.data_ptr(), self.t_g.data_ptr(), self.t_b.data_ptr(),
                             self.t_y.data_ptr(), self.rows, self.cols, EPS, *scales, self.stream)

    def baseline(self):
        F = self.torch.nn.functional
        if self.precision != "int8":
            return F.layer_norm(self.t_x, (self.cols,), self.t_g, self.t_b, EPS)
        xf = self.t_x.float() * S_X
        y = F.layer_norm(xf, (self.cols,), self.t_g.float() * S_SCALE, self.t_b.float() * S_BIAS, EPS)
        return self.torch.round(y / S_Y).clamp_(-127, 127).to(self.torch.int8)

    def check(self):
        torch = self.torch
        self.t_y.view(torch.uint8).fill_(0x7F if self.precision != "int8" else 0x80)
        self.ours()
        torch.cuda.synchronize()
        if self.precision == "int8":
            x, g, b = self.t_xf.double(), self.t_gf.double(), self.t_bf.double()
        else:
            x, g, b = self.t_x.double(), self.t_g.double(), self.t_b.double()
        mean = x.mean(dim=1, keepdim=True)
        var = ((x - mean) ** 2).mean(dim=1, keepdim=True)
        ref = (x - mean) / torch.sqrt(var + EPS) * g + b
        if self.precision == "int8":
            expected = torch.round(ref / S_Y).clamp(-127, 127)
            diff = (self.t_y.double() - expected).abs()
            worst = float(diff.max())
            off = int((diff > 0).sum())
            ok = worst <= 1
            return {"ok": ok, "detail": f"int8 steps off the float64 reference: max {worst:g} "
                                        f"({off} of {diff.numel()} elements off by one; limit 1 step)"}
        got = self.t_y.double()
        if not bool(torch.isfinite(got).all()):
            return {"ok": False, "detail": "non-finite outputs (unwritten elements?)"}
        rel = float(torch.linalg.vector_norm(got - ref) / torch.linalg.vector_norm(ref))
        limit = 1e-5 if self.precision == "fp32" else 1e-3
        return {"ok": rel < limit, "detail": f"|y - ref|/|ref| = {rel:.2e} (float64 reference; limit {limit:g})"}

    def trt_call(self):
        x, g, b = self._inputs_numpy()
        attrs = {"axis": -1, "epsilon": EPS}
        # rank 3 throughout (x [1, rows, cols]): TensorRT 8.5 has no INT8 format below rank 3 (see spec)
        inputs = [x[None], g[None, None], b[None, None]]
        if self.precision == "int8":
            return inputs, attrs, [S_X, S_SCALE, S_BIAS], [S_Y]
        return inputs, attrs, [], []


def cases(precisions):
    return [LayerNormCase(p, r, c) for r, c in ((4096, 1024), (16384, 4096)) for p in ("fp32", "fp16", "int8")
            if p in precisions]


def launch_case(torch, launcher, stream, precision, inputs, attrs, input_scales, output_scales):
    x, g, b = (np.ascontiguousarray(a) for a in inputs)
    rank = x.ndim
    axis = attrs["axis"] % rank if rank else 0
    rows = int(np.prod(x.shape[:axis], dtype=np.int64))
    cols = int(np.prod(x.shape[axis:], dtype=np.int64))
    t_x, t_g, t_b = (torch.from_numpy(a).cuda() for a in (x, g, b))
    y = torch.empty(tuple(x.shape), dtype=t_x.dtype, device=t_x.device)  # contiguous, also when empty
    if y.numel():
        y.view(torch.uint8).fill_(0x7F)  # poison: every element must be written
    s = [float(v) for v in input_scales] + [float(v) for v in output_scales] if precision == "int8" else [1.0] * 4
    launcher.launch(precision, t_x.data_ptr(), t_g.data_ptr(), t_b.data_ptr(), y.data_ptr(), rows, cols,
                    float(attrs["epsilon"]), *s, stream)
    torch.cuda.synchronize()
    return [y.cpu().numpy()]
