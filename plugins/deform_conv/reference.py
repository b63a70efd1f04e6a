"""DeformConv numpy reference and validation cases.

TODO(deform_conv): the reference is the definition the kernels are validated against: write the real
math here first, in float64 (the placeholder copies input 'x' to every output). Then
make the cases cover what can go wrong: shapes at the limits, values where the arithmetic is
delicate, every attribute value that changes the code path.
"""
from __future__ import annotations

import numpy as np

from pykit.case import Case

# Attribute values for the cases ({} = the spec's defaults).
ATTRS = {
}


def deform_conv(inputs: dict[str, np.ndarray], attrs: dict) -> dict[str, np.ndarray]:
    """TODO: the real op. Placeholder: every output is a copy of 'x' (float64)."""
    source = np.asarray(inputs['x'], dtype=np.float64)
    return {name: source.copy() for name in ['y']}


def _case(name: str, rng: np.random.Generator, shape, values=None, **attrs) -> Case:
    """A case with float inputs ~ N(0, 1) of `shape` ('x' = `values` if given)."""
    inputs = {
        'x': rng.standard_normal(shape).astype(np.float32),
        'weight': rng.standard_normal(shape).astype(np.float32),
        'offset': rng.standard_normal(shape).astype(np.float32),
        'bias': rng.standard_normal(shape).astype(np.float32),
        'mask': rng.standard_normal(shape).astype(np.float32),
    }
    if values is not None:
        inputs['x'] = np.asarray(values, dtype=np.float32).reshape(shape)
    return Case(name, inputs, {**ATTRS, **attrs})


def cases(rng: np.random.Generator):
    # Every case has rank >= 3: TensorRT 8.5 finds no INT8 format for plugin tensors of rank < 3
    # (docs/validation/probe_int8_rank.txt).
    yield _case("random", rng, (2, 3, 16))
    yield _case("single_row", rng, (1, 1, 7))
    yield _case("rank4_odd_sizes", rng, (3, 5, 7, 9))
    yield _case("zeros", rng, (2, 4, 8), values=np.zeros((2, 4, 8)))
    # magnitudes from tiny to large (fp16 keeps them: |x| <= 1e4 < 65504), and both signs
    yield _case("extremes", rng, (1, 2, 8), values=[[1e-4, -1e-4, 1.0, -1.0, 1e2, -1e2, 1e4, -1e4],
                                                    [0.0, 3e-3, -3e-3, 0.5, -0.5, 7.0, -7.0, 1234.5]])
    yield _case("large", rng, (2, 32, 1024))
    # an empty input (TensorRT runs zero-sized tensors; the lifecycle checks need one such case)
    yield _case("empty", rng, (2, 0, 8))
