"""Example models, built in code (no downloads), live in their plugin's folder: ``models.py``
defines ``demos(seed) -> {file name: onnx.ModelProto}`` (what `pykit demo` runs) and any other
builders its tests use (e.g. PillarScatter's ``pointpillars_like``). This module holds what they
share: the metadata key and the helpers that finish a model.

Each model carries ``pykit.input_specs`` metadata (JSON): how to draw valid random inputs (the
pillar coords are unique cells inside the canvas; scatter indices lie inside the axis).
"""
from __future__ import annotations

import json
from types import ModuleType

import numpy as np

INPUT_SPECS_KEY = "pykit.input_specs"


def initializer(name, array):
    from onnx import numpy_helper

    return numpy_helper.from_array(np.asarray(array), name)


def finish(graph, opset: int, ir: int, specs: dict, name: str):
    """The model of ``graph`` at this opset and IR version, its input specs attached, checked."""
    import onnx
    from onnx import helper

    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="pykit.surgeon.models")
    model.ir_version = ir
    model.doc_string = name
    helper.set_model_props(model, {INPUT_SPECS_KEY: json.dumps(specs)})
    onnx.checker.check_model(model, full_check=True)
    return model


def plugin_models(plugin: str) -> ModuleType:
    """The ``models.py`` of the plugin named ``plugin`` (found by its folder, like every part)."""
    from pykit import registry

    spec = registry.get(plugin)
    if not (spec.folder / "models.py").is_file():
        raise registry.RegistryError(f"{plugin}: no example models ({spec.folder / 'models.py'} does not exist)")
    return registry.load_module(spec, "models")
