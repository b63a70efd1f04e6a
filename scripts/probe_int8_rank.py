"""Which input ranks can TensorRT feed an INT8 PillarScatter? Builds one-plugin INT8 engines for
features [P, C] vs [1, P, C] and num_valid [1] vs scalar, and prints BUILD OK / FAILED for each.

    PYKIT_BUILD_DIR=build/gpu python3 scripts/probe_int8_rank.py      (after scripts/gpu-validate.sh)
"""
import numpy as np

from pykit import registry
from pykit.backends.trt import TensorRTBackend

spec = registry.get("PillarScatter")
backend = TensorRTBackend()
assert backend.available() is None, backend.available()
rng = np.random.default_rng(0)
P, C = 64, 8
feats = rng.integers(-127, 128, size=(P, C), dtype=np.int8)
coords = np.stack([np.zeros(P), np.zeros(P), np.arange(P) // 8, np.arange(P) % 8], 1).astype(np.int32)
attrs = spec.resolve_attributes({"nx": 8, "ny": 8})
for name, f, nv in [("features [P,C],   num_valid [1]", feats, np.array([P], np.int32)),
                    ("features [1,P,C], num_valid [1]", feats[None], np.array([P], np.int32)),
                    ("features [P,C],   num_valid []", feats, np.array(P, np.int32)),
                    ("features [1,P,C], num_valid []", feats[None], np.array(P, np.int32))]:
    try:
        backend.engine(spec, "int8", [f, coords, nv], attrs, [0.01, 1.0, 1.0], [0.01])
        print(f"int8 {name}: BUILD OK")
    except RuntimeError as exc:
        print(f"int8 {name}: BUILD FAILED: {str(exc).splitlines()[-1][:160]}")
