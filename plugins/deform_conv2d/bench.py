"""DeformConv bench: the placeholder op on 16M elements; PyTorch baseline: a copy (torch.clone).

TODO(deform_conv): the shapes the real op meets in models, the bytes it must move (traffic), a
PyTorch baseline computing the same thing, and a target per shape and precision once measured.
torch is passed in, never imported here: the tests load this module on machines without a GPU.
"""
from __future__ import annotations

import numpy as np

from pykit.bench.case import BenchCase, Traffic

ITEMSIZE = {"fp32": 4, "fp16": 2, "int8": 1}
NUM_OUTPUTS = 1
SOURCE = 0  # input 'x', which the placeholder copies


class Bench(BenchCase):
    plugin = 'DeformConv2d'
    baseline_name = "torch.clone (the placeholder's copy)"

    def __init__(self, precision: str, n: int = 1 << 24):
        self.precision, self.n, self.shape = precision, n, f"n={n}"

    def traffic(self) -> Traffic:
        return Traffic((1 + NUM_OUTPUTS) * self.n * ITEMSIZE[self.precision],
                       f"(1 + {NUM_OUTPUTS})*n*s ('x' read, each output written); s = bytes per element")

    def setup(self, torch, launcher, stream):
        self.torch, self.launcher, self.stream = torch, launcher, stream
        dtype = {"fp32": torch.float32, "fp16": torch.float16, "int8": torch.int8}[self.precision]
        self.t_x = (torch.randn(self.n, device="cuda") * 20).to(dtype)
        self.t_outputs = [torch.empty_like(self.t_x) for _ in range(NUM_OUTPUTS)]

    def ours(self):
        for out in self.t_outputs:
            self.launcher.launch(self.precision, self.t_x.data_ptr(), out.data_ptr(), self.n, 1.0, 1.0, self.stream)

    def baseline(self):
        return [self.t_x.clone() for _ in range(NUM_OUTPUTS)]

    def check(self):
        for out in self.t_outputs:
            out.fill_(7)
        self.ours()
        self.torch.cuda.synchronize()
        ok = all(bool(self.torch.equal(out, self.t_x)) for out in self.t_outputs)
        return {"ok": ok, "detail": "every output equals the input (the placeholder's copy)"}


def cases(precisions):
    return [Bench(p) for p in precisions]


def launch_case(torch, launcher, stream, precision, inputs, attrs, input_scales, output_scales):
    """One validation case through the launcher (TODO(deform_conv): the real op's arguments)."""
    t_x = torch.from_numpy(np.ascontiguousarray(inputs[SOURCE])).cuda()
    outputs = []
    for k in range(NUM_OUTPUTS):
        t_y = torch.empty_like(t_x)
        int8 = precision == "int8"
        launcher.launch(precision, t_x.data_ptr(), t_y.data_ptr(), t_x.numel(),
                        float(input_scales[SOURCE]) if int8 else 1.0, float(output_scales[k]) if int8 else 1.0, stream)
        outputs.append(t_y)
    torch.cuda.synchronize()
    return [t.cpu().numpy() for t in outputs]
