"""GridSample bench: 4-D 8x64x256x256 (grid 8x256x256x2) and 5-D 1x32x64x128x128 (grid the same
size), bilinear, zeros padding, align_corners=0, a smooth random warp (points within a few pixels of
their identity position, as a flow warp). PyTorch baseline: torch.nn.functional.grid_sample (CUDA);
at int8 torch has none, so its baseline dequantizes x, samples in fp32 and quantizes y (what a Q/DQ
graph around the fp32 op computes).

Floor: every x element is read at least once and every y element written once, plus the grid:
bytes = N*C*(P_in + P_out)*s + N*P_out*axes*s_grid (s: bytes per x/y element; s_grid 4 at fp32 and
int8, 2 at fp16); time floor = bytes / copy bandwidth. A warp close to the identity reads each x
element ~once from DRAM (neighbouring taps hit L1/L2).
"""
from __future__ import annotations

import numpy as np

from pykit.bench.case import BenchCase, Traffic

ITEMSIZE = {"fp32": 4, "fp16": 2, "int8": 1}
GRID_ITEMSIZE = {"fp32": 4, "fp16": 2, "int8": 4}
S_X, S_Y = 4.0 / 127, 4.0 / 127


def _warp_grid(rng, n, out, axes):
    """Identity grid (align_corners=0 pixel centres) + a smooth offset of up to ~2 pixels."""
    axes_lin = [(np.arange(s) * 2 + 1) / s - 1 for s in out]
    mesh = np.meshgrid(*axes_lin, indexing="ij")  # outermost first
    base = np.stack(mesh[::-1], axis=-1)  # x first
    jitter = rng.uniform(-1, 1, (n,) + tuple(out) + (axes,)) * (2.0 / np.array(out[::-1]))
    return (base[None] + jitter).astype(np.float32)


class GridSampleCase(BenchCase):
    plugin = "GridSampler"

    def __init__(self, precision, x_shape, seed=0):
        self.precision, self.x_shape, self.seed = precision, tuple(x_shape), seed
        self.axes = len(x_shape) - 2
        self.grid_shape = (x_shape[0],) + tuple(x_shape[2:]) + (self.axes,)
        self.shape = "x".join(map(str, x_shape))
        self.target_ms = None
        self.baseline_name = ("F.grid_sample on dequantized x, quantize y" if precision == "int8"
                              else "torch.nn.functional.grid_sample")

    def traffic(self):
        n, c = self.x_shape[:2]
        p = int(np.prod(self.x_shape[2:]))
        s, sg = ITEMSIZE[self.precision], GRID_ITEMSIZE[self.precision]
        return Traffic(n * c * 2 * p * s + n * p * self.axes * sg,
                       "N*C*(P_in + P_out)*s + N*P_out*axes*s_grid (x read once, y written, grid read)")

    def setup(self, torch, launcher, stream):
        self.torch, self.launcher, self.stream = torch, launcher, stream
        rng = np.random.default_rng(self.seed)
        x = rng.uniform(-2, 2, self.x_shape).astype(np.float32)
        grid = _warp_grid(rng, self.x_shape[0], self.x_shape[2:], self.axes)
        self.t_xf = torch.from_numpy(x).cuda()
        self.t_gridf = torch.from_numpy(grid).cuda()
        if self.precision == "int8":
            self.t_x = torch.round(self.t_xf / S_X).clamp_(-127, 127).to(torch.int8)
            self.t_grid = self.t_gridf
        else:
            dt = torch.float32 if self.precision == "fp32" else torch.float16
            self.t_x, self.t_grid = self.t_xf.to(dt), self.t_gridf.to(dt)
        out = (self.x_shape[0], self.x_shape[1]) + tuple(self.grid_shape[1:-1])
        self.t_y = torch.empty(out, dtype=self.t_x.dtype, device="cuda")

    def ours(self):
        s = (S_X, S_Y) if self.precision == "int8" else (1.0, 1.0)
        self.launcher.launch(self.precision, self.t_x.data_ptr(), self.t_grid.data_ptr(), self.t_y.data_ptr(),
                             list(self.x_shape), list(self.grid_shape), "linear", "zeros", 0, *s, self.stream)

    def baseline(self):
        F = self.torch.nn.functional
        if self.precision != "int8":
            return F.grid_sample(self.t_x, self.t_grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        y = F.grid_sample(self.t_x.float() * S_X, self.t_grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        return self.torch.round(y / S_Y).clamp_(-127, 127).to(self.torch.int8)

    def check(self):
        torch = self.torch
        self.t_y.view(torch.uint8).fill_(0x7F)
        self.ours()
        torch.cuda.synchronize()
        x = self.t_x.double() * S_X if self.precision == "int8" else self.t_x.double()
        ref = torch.nn.functional.grid_sample(x, self.t_grid.double(), mode="bilinear", padding_mode="zeros",
                                              align_corners=False)
        if self.precision == "int8":
            diff = (self.t_y.double() - torch.round(ref / S_Y).clamp(-127, 127)).abs()
            worst = float(diff.max())
            return {"ok": worst <= 1, "detail": f"int8 steps off the float64 torch result: max {worst:g} (limit 1)"}
        got = self.t_y.double()
        if not bool(torch.isfinite(got).all()):
            return {"ok": False, "detail": "non-finite outputs (unwritten elements?)"}
        err = float((got - ref).abs().max())
        limit = 1e-4 if self.precision == "fp32" else 1e-2
        return {"ok": err < limit, "detail": f"max |y - ref| = {err:.2e} vs float64 torch grid_sampler (limit {limit:g})"}

    def trt_call(self):
        rng = np.random.default_rng(self.seed)
        x = rng.uniform(-2, 2, self.x_shape).astype(np.float32)
        grid = _warp_grid(rng, self.x_shape[0], self.x_shape[2:], self.axes)
        attrs = {"mode": "linear", "padding_mode": "zeros", "align_corners": 0}
        if self.precision == "int8":
            q = np.clip(np.rint(x / S_X), -127, 127).astype(np.int8)
            return [q, grid], attrs, [S_X, 1.0], [S_Y]
        dt = np.float32 if self.precision == "fp32" else np.float16
        return [x.astype(dt), grid.astype(dt)], attrs, [], []


def cases(precisions):
    shapes = [(8, 64, 256, 256), (1, 32, 64, 128, 128)]
    return [GridSampleCase(p, s) for s in shapes for p in ("fp32", "fp16", "int8") if p in precisions]


def launch_case(torch, launcher, stream, precision, inputs, attrs, input_scales, output_scales):
    x, grid = (np.ascontiguousarray(a) for a in inputs)
    t_x, t_grid = torch.from_numpy(x).cuda(), torch.from_numpy(grid).cuda()
    out = tuple(x.shape[:2]) + tuple(grid.shape[1:-1])
    y = torch.empty(out, dtype=t_x.dtype, device="cuda")
    if y.numel():
        y.view(torch.uint8).fill_(0x7F)  # poison: every element must be written
    s = (float(input_scales[0]), float(output_scales[0])) if precision == "int8" else (1.0, 1.0)
    launcher.launch(precision, t_x.data_ptr(), t_grid.data_ptr(), y.data_ptr(), list(x.shape), list(grid.shape),
                    str(attrs["mode"]), str(attrs["padding_mode"]), int(attrs["align_corners"]), *s, stream)
    torch.cuda.synchronize()
    return [y.cpu().numpy()]
