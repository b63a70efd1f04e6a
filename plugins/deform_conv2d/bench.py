"""DeformConv2d bench: the 3x3 layers of ResNet-50's stages 3 and 4 made deformable (DCNv2, as
mmdet's dcn configs do) at 224x224 input: 256 channels at 14x14 and 512 at 7x7, batch 1 and 8, pad 1,
offsets ~ N(0, 1) px, mask ~ U(0, 1). PyTorch baseline: torchvision.ops.deform_conv2d (CUDA: its
own deformable im2col and a cuBLAS GEMM), the issue's peer.

The op is compute-bound at these shapes (2*oC*C*9*oH*oW flops vs a few MB), so the traffic is
reported for reference only. torch is passed in, never imported here (the tests load this module
on machines without a GPU); torchvision is imported in setup, on the GPU machine.
"""
from __future__ import annotations

import numpy as np

from pykit.bench.case import BenchCase, Traffic

ITEMSIZE = {"fp32": 4, "fp16": 2}
LAYERS = {"stage3": (256, 14), "stage4": (512, 7)}  # channels (in = out), spatial size
ATTRS = {"dilations": [1, 1], "group": 1, "offset_group": 1, "pads": [1, 1, 1, 1], "strides": [1, 1]}


def _shapes(n, c, hw):
    return {"x": (n, c, hw, hw), "weight": (c, c, 3, 3), "offset": (n, 18, hw, hw), "bias": (c,), "mask": (n, 9, hw, hw)}


class DeformConv2dCase(BenchCase):
    plugin = "DeformConv2d"
    baseline_name = "torchvision.ops.deform_conv2d"

    def __init__(self, precision: str, layer: str, batch: int, seed: int = 0):
        self.precision, self.layer, self.batch, self.seed = precision, layer, batch, seed
        self.c, self.hw = LAYERS[layer]
        self.shape = f"{layer} {batch}x{self.c}x{self.hw}x{self.hw}"
        self.note = f"{2 * self.c * self.c * 9 * self.hw * self.hw * batch / 1e9:.2f} GFLOP per call"

    def traffic(self) -> Traffic:
        s = ITEMSIZE[self.precision]
        n, c, hw = self.batch, self.c, self.hw
        elements = sum(int(np.prod(v)) for v in _shapes(n, c, hw).values()) + n * c * hw * hw
        return Traffic(elements * s, "s*(x + weight + offset + bias + mask + y elements); compute-bound: for reference")

    def _inputs_numpy(self):
        rng = np.random.default_rng(self.seed)
        sh = _shapes(self.batch, self.c, self.hw)
        dt = np.float32 if self.precision == "fp32" else np.float16
        k = self.c * 9
        return {"x": rng.standard_normal(sh["x"]).astype(dt),
                "weight": (rng.uniform(-1, 1, sh["weight"]) * np.sqrt(3.0 / k)).astype(dt),  # unit-variance outputs
                "offset": rng.standard_normal(sh["offset"]).astype(dt),
                "bias": rng.uniform(-0.1, 0.1, sh["bias"]).astype(dt),
                "mask": rng.uniform(0, 1, sh["mask"]).astype(dt)}

    def setup(self, torch, launcher, stream):
        self.torch, self.launcher, self.stream = torch, launcher, stream
        a = self._inputs_numpy()
        self.t = {k: torch.from_numpy(v).cuda() for k, v in a.items()}
        self.t_y = torch.empty((self.batch, self.c, self.hw, self.hw), dtype=self.t["x"].dtype, device="cuda")
        self.t_ws = torch.empty(max(1, self._workspace_bytes()), dtype=torch.uint8, device="cuda")
        try:
            import torchvision.ops  # the peer (its CUDA build, on the GPU machine)

            torch.ops.torchvision.deform_conv2d  # noqa: B018  (raises where the compiled ops did not load)
            self.tv = torchvision.ops.deform_conv2d
        except Exception as exc:  # no torchvision there: the same math in plain torch ops, named as such
            self.tv = lambda *a, **k: _torch_deform_conv2d(torch, *a, **k)
            self.baseline_name = "plain-torch deformable conv (gather + einsum; torchvision unavailable)"
            self.note += f"; torchvision unavailable ({type(exc).__name__}): baseline is plain torch"

    def _workspace_bytes(self):
        sh = {k: list(v.shape) for k, v in self.t.items()}
        return int(self.launcher.workspace_bytes(sh["x"], sh["weight"], sh["offset"], sh["mask"], **ATTRS))

    def ours(self):
        t = self.t
        self.launcher.launch(self.precision, t["x"].data_ptr(), t["weight"].data_ptr(), t["offset"].data_ptr(),
                             t["bias"].data_ptr(), t["mask"].data_ptr(), self.t_y.data_ptr(), self.t_ws.data_ptr(),
                             list(t["x"].shape), list(t["weight"].shape), list(t["offset"].shape), list(t["mask"].shape),
                             stream=self.stream, **ATTRS)

    def baseline(self):
        t = self.t
        return self.tv(t["x"], t["offset"], t["weight"], t["bias"], padding=(1, 1), mask=t["mask"])

    def check(self):
        torch = self.torch
        self.t_y.view(torch.uint8).fill_(0x7F)  # poison: every element must be written
        self.ours()
        torch.cuda.synchronize()
        t = {k: v.double() for k, v in self.t.items()}
        ref = self.tv(t["x"], t["offset"], t["weight"], t["bias"], padding=(1, 1), mask=t["mask"])  # float64 peer
        got = self.t_y.double()
        if not bool(torch.isfinite(got).all()):
            return {"ok": False, "detail": "non-finite outputs (unwritten elements?)"}
        rel = float(torch.linalg.vector_norm(got - ref) / torch.linalg.vector_norm(ref))
        limit = 1e-5 if self.precision == "fp32" else 2e-3
        return {"ok": rel < limit, "detail": f"|y - ref|/|ref| = {rel:.2e} (torchvision in float64; limit {limit:g})"}

    def trt_call(self):
        a = self._inputs_numpy()
        return [a["x"], a["weight"], a["offset"], a["bias"], a["mask"]], dict(ATTRS), [], []


def _torch_deform_conv2d(torch, x, offset, weight, bias, padding=(0, 0), mask=None):
    """The bench's fallback peer (stride 1, dilation 1, one group and offset group, as the cases):
    bilinear samples with zero outside by gather, then the GEMM by einsum."""
    n, c, h, w = x.shape
    oc, _, kh, kw = weight.shape
    oh, ow = offset.shape[2:]
    off = offset.view(n, kh, kw, 2, oh, ow)
    dev, dt = x.device, x.dtype
    py = (torch.arange(oh, device=dev) - padding[0]).view(1, 1, 1, oh, 1) + torch.arange(kh, device=dev).view(1, kh, 1, 1, 1) + off[:, :, :, 0]
    px = (torch.arange(ow, device=dev) - padding[1]).view(1, 1, 1, 1, ow) + torch.arange(kw, device=dev).view(1, 1, kw, 1, 1) + off[:, :, :, 1]
    y0, x0 = torch.floor(py), torch.floor(px)
    ly, lx = py - y0, px - x0
    length = kh * kw * oh * ow
    flat = x.reshape(n, c, h * w)
    cols = torch.zeros(n, c, length, dtype=dt, device=dev)
    for dy, wy in ((0, 1 - ly), (1, ly)):
        for dx, wx in ((0, 1 - lx), (1, lx)):
            yy, xx = (y0 + dy).long(), (x0 + dx).long()
            inside = (yy >= 0) & (yy < h) & (xx >= 0) & (xx < w)
            idx = (yy.clamp(0, h - 1) * w + xx.clamp(0, w - 1)).reshape(n, 1, length).expand(n, c, length)
            cols += torch.where(inside, wy * wx, torch.zeros_like(wy)).reshape(n, 1, length) * torch.gather(flat, 2, idx)
    if mask is not None:
        cols *= mask.reshape(n, 1, length)
    out = torch.einsum("ok,nkp->nop", weight.reshape(oc, c * kh * kw), cols.reshape(n, c * kh * kw, oh * ow))
    return out.reshape(n, oc, oh, ow) + bias.view(1, -1, 1, 1)


def cases(precisions):
    return [DeformConv2dCase(p, layer, n) for layer in LAYERS for n in (1, 8) for p in ("fp32", "fp16") if p in precisions]


def launch_case(torch, launcher, stream, precision, inputs, attrs, input_scales, output_scales):
    """One validation case through the launcher (inputs in spec order)."""
    x, w, off, b, m = (np.ascontiguousarray(v) for v in inputs)
    t = [torch.from_numpy(v).cuda() for v in (x, w, off, b, m)]
    shapes = [list(v.shape) for v in (x, w, off, m)]
    kw = {k: (list(attrs[k]) if isinstance(attrs[k], (list, tuple)) else int(attrs[k]))
          for k in ("dilations", "group", "offset_group", "pads", "strides")}
    ws = torch.empty(max(1, int(launcher.workspace_bytes(*shapes, **kw))), dtype=torch.uint8, device="cuda")
    n, oc = x.shape[0], w.shape[0]
    y = torch.empty((n, oc, off.shape[2], off.shape[3]), dtype=t[0].dtype, device="cuda")
    if y.numel():
        y.view(torch.uint8).fill_(0x7F)  # poison: every element must be written
    launcher.launch(precision, *(v.data_ptr() for v in t), y.data_ptr(), ws.data_ptr(), *shapes, stream=stream, **kw)
    torch.cuda.synchronize()
    return [y.cpu().numpy()]
