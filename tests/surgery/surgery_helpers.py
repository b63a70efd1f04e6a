import numpy as np
import onnx
from onnx import TensorProto as T
from onnx import helper as h


def model(nodes, inputs, outputs, inits=(), opset=17, ir=8, extra_opsets=()):
    g = h.make_graph(nodes, "g", inputs, outputs, list(inits))
    m = h.make_model(g, opset_imports=[h.make_opsetid("", opset)] + [h.make_opsetid(d, v) for d, v in extra_opsets])
    m.ir_version = ir
    return m


def vi(name, shape, t=T.FLOAT):
    return h.make_tensor_value_info(name, t, shape)


def plugin_node(name="ps", **attrs):
    base = {"plugin_version": "1", "plugin_namespace": "pykit", "nx": 8, "ny": 4}
    base.update(attrs)
    base = {k: v for k, v in base.items() if v is not None}
    return h.make_node("PillarScatter", ["f", "c", "n"], ["y"], name=name, domain="trt.plugins", **base)


def plugin_model(node):
    return model([node], [vi("f", [5, 3]), vi("c", [5, 4], T.INT32), vi("n", [1], T.INT32)], [vi("y", [1, 3, 4, 8])],
                 extra_opsets=[(node.domain or "trt.plugins", 1)])


def save(m, path):
    onnx.save(m, str(path))
    return str(path)


def host_has(name):
    try:
        from pykit.backends.host import host_module

        return name in host_module().plugins()
    except ImportError:
        return False


__all__ = ["model", "vi", "plugin_node", "plugin_model", "save", "host_has", "np", "h", "T"]
