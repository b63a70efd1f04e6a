"""The CPU backend: the plugins' kernel cores compiled into pykit._host."""
from __future__ import annotations

import numpy as np

from pykit.backends import Run


def _module():
    from pykit import _host  # built by `pip install -e .`

    return _host


class HostBackend:
    name = "host"

    def available(self) -> str | None:
        try:
            _module()
        except ImportError as exc:
            return f"pykit._host is not built ({exc}); run: pip install -e ."
        return None

    def plugins(self) -> list[str]:
        return list(_module().plugins())

    def run(self, spec, precision, inputs, attrs, input_scales, output_scales) -> Run:
        host = _module()
        if spec.name not in host.plugins():
            raise RuntimeError(f"{spec.name}: no host backend compiled (rebuild: pip install -e .)")
        outputs = host.run(spec.name, [np.ascontiguousarray(x) for x in inputs], dict(attrs), precision,
                           [float(s) for s in input_scales], [float(s) for s in output_scales])
        # The host computes in exactly the dtype it was given and returns; it is what it says.
        return Run(list(outputs), precision)
