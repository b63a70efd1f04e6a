"""Graph surgery for TensorRT plugin deployment: inspect what a TensorRT ONNX parser cannot take
(inspect.py), rewrite it into plugin nodes with rules from the plugin folders (rules.py, patch.py),
lint plugin nodes against their specs (lint.py), prove on CPU that a rewrite preserves semantics
(equiv.py), example models (models.py) and the end-to-end demo (demo.py).

Plugin nodes: op_type = plugin name, domain ``trt.plugins`` (TensorRT's parser ignores domains; the
domain keeps onnx.checker from looking for a standard schema), attributes ``plugin_version``,
``plugin_namespace`` and the spec's attributes.
"""
from pykit.surgeon.model import PLUGIN_DOMAIN, SurgeryError, load_model

__all__ = ["PLUGIN_DOMAIN", "SurgeryError", "load_model"]
