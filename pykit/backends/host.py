"""The CPU backend: the plugins' kernel cores compiled into host modules, one per project
(pykit._host for pykit's own plugins, <package>._host for a plugin project's)."""
from __future__ import annotations

import numpy as np

from pykit.backends import Run


def host_module():
    """pykit's own host module."""
    from pykit import extensions

    return extensions.load("_host")


def host_for(spec):
    """The host module of the plugin's project; it must have the plugin compiled in."""
    from pykit import registry

    project = registry.project_of(spec)
    module = project.host_module()
    if spec.name not in module.plugins():
        where = f" (pip install -e . in {project.root})" if project.root else ""
        raise RuntimeError(f"{spec.name}: no host kernel in {project.host_module_name} ({module.__file__}); "
                           f"rebuild it{where}")
    return module


def has_host_kernel(spec) -> bool:
    try:
        host_for(spec)
    except (ImportError, RuntimeError):
        return False
    return True


class PluginHosts:
    """Every project's host module behind one object: the name-keyed calls (run, fields, io,
    serialize_attrs, deserialize_attrs, schema_hash) go to the module of the plugin named."""

    def __init__(self):
        self._modules: dict[str, object] = {}

    def module(self, name: str):
        if name not in self._modules:
            from pykit import registry

            self._modules[name] = host_for(registry.get(name))
        return self._modules[name]

    def plugins(self) -> list[str]:
        from pykit import registry

        return sorted(s.name for s in registry.discover() if has_host_kernel(s))

    def __getattr__(self, attr):
        if attr.startswith("_") or attr not in ("run", "fields", "io", "serialize_attrs", "deserialize_attrs", "schema_hash"):
            return getattr(host_module(), attr)

        def call(name, *args, **kwargs):
            return getattr(self.module(name), attr)(name, *args, **kwargs)

        return call


class HostBackend:
    name = "host"

    def available(self) -> str | None:
        try:
            host_module()
        except ImportError as exc:
            return f"pykit._host is not built ({exc}); run: pip install -e ."
        return None

    def run(self, spec, precision, inputs, attrs, input_scales, output_scales) -> Run:
        host = host_for(spec)
        # np.asarray, not ascontiguousarray: that one turns 0-d arrays into 1-d
        outputs = host.run(spec.name, [np.asarray(x, order="C") for x in inputs], dict(attrs), precision,
                           [float(s) for s in input_scales], [float(s) for s in output_scales])
        # The host computes in exactly the dtypes it was given and returns them: what ran is what was asked.
        return Run(list(outputs), precision)
