"""What a benchmark case is: one plugin at one shape and precision, the bytes its op must move,
the target, and hooks to set up GPU buffers, run the launcher, run the PyTorch baseline, check the
launcher's output, and describe the same call for a TensorRT engine."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Traffic:
    """The fewest bytes the op must move through device memory (each input read once, each output
    written once), and the formula that gave them."""
    bytes: int
    formula: str


class BenchCase:
    plugin: str = ""
    precision: str = "fp32"
    shape: str = ""
    target_ms: float | None = None
    baseline_name: str = ""   # what the PyTorch baseline runs
    note: str = ""            # anything a reader of the table must know

    def traffic(self) -> Traffic:
        raise NotImplementedError

    # GPU side: torch and the plugin's launcher submodule (pykit._kernels.<PluginName>, bound by its
    # folder's bench.cpp) are passed in, imported lazily by the runner
    def setup(self, torch, launcher, stream: int) -> None:
        raise NotImplementedError

    def ours(self) -> None:
        raise NotImplementedError

    def baseline(self):
        raise NotImplementedError

    def baselines(self) -> dict:
        """PyTorch implementations of the same op, by name; the table reports the fastest."""
        return {self.baseline_name: self.baseline}

    def check(self) -> dict:
        """Run the launcher once on poisoned outputs and compare with an independent result:
        {'ok': bool, 'detail': str}."""
        raise NotImplementedError

    def trt_call(self):
        """(inputs in spec order as numpy, attrs, input_scales, output_scales) for a one-plugin
        TensorRT engine, or None where the plugin cannot run this case in TensorRT."""
        return None

    def teardown(self) -> None:
        for name in list(vars(self)):
            if name.startswith("t_"):
                delattr(self, name)

    @property
    def key(self) -> str:
        return f"{self.plugin} {self.shape} {self.precision}"
