"""The CPU backend: the plugins' kernel cores compiled into pykit._host."""
from __future__ import annotations

import numpy as np

from pykit import extensions
from pykit.backends import Run


def host_module():
    return extensions.load("_host")


class HostBackend:
    name = "host"

    def available(self) -> str | None:
        try:
            host_module()
        except ImportError as exc:
            return f"pykit._host is not built ({exc}); run: pip install -e ."
        return None

    def run(self, spec, precision, inputs, attrs, input_scales, output_scales) -> Run:
        host = host_module()
        if spec.name not in host.plugins():
            raise RuntimeError(f"{spec.name}: no host backend compiled (rebuild: pip install -e .)")
        # np.asarray, not ascontiguousarray: that one turns 0-d arrays into 1-d
        outputs = host.run(spec.name, [np.asarray(x, order="C") for x in inputs], dict(attrs), precision,
                           [float(s) for s in input_scales], [float(s) for s in output_scales])
        # The host computes in exactly the dtypes it was given and returns them: what ran is what was asked.
        return Run(list(outputs), precision)
