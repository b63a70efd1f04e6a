"""The CPU backend: the plugins' kernel cores compiled into pykit._host.

``PYKIT_HOST_DIR=<cmake build dir>`` loads ``_host`` from that folder instead of the installed
package: for working on a plugin with a plain ``cmake --build`` and no reinstall.
"""
from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import sys
from functools import lru_cache
from pathlib import Path

import numpy as np

from pykit.backends import Run


@lru_cache(maxsize=None)
def host_module():
    override = os.environ.get("PYKIT_HOST_DIR")
    if override:
        for suffix in importlib.machinery.EXTENSION_SUFFIXES:
            path = Path(override) / f"_host{suffix}"
            if path.is_file():
                spec = importlib.util.spec_from_file_location("pykit._host", path)
                module = importlib.util.module_from_spec(spec)
                spec.loader.exec_module(module)
                sys.modules["pykit._host"] = module
                return module
        raise ImportError(f"PYKIT_HOST_DIR={override} holds no _host extension module")
    from pykit import _host  # built by `pip install -e .`

    return _host


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
        outputs = host.run(spec.name, [np.ascontiguousarray(x) for x in inputs], dict(attrs), precision,
                           [float(s) for s in input_scales], [float(s) for s in output_scales])
        # The host computes in exactly the dtypes it was given and returns them: what ran is what was asked.
        return Run(list(outputs), precision)
