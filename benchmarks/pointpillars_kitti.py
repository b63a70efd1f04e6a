#!/usr/bin/env python3
"""The PointPillars scatters at KITTI size, native import vs patched (issue #16 item 4).

The corpus' PointPillars exports (tests/corpus) are small on purpose (CI runs them on CPU); at that
size an engine's time is launch overhead. The speed question is about real shapes: mmdet3d's KITTI
PointPillars config (in_channels 64, output_shape [496, 432], max_voxels 12000 at test time) and
OpenPCDet's pointpillar.yaml (NUM_BEV_FEATURES 64, grid 432 x 496, MAX_NUMBER_OF_VOXELS 12000 at test).

    python3 benchmarks/pointpillars_kitti.py bench OUT      # on the GPU machine: torch, TensorRT

`bench` first exports (torch; into the git-ignored benchmarks/models/<name>/model.onnx) the same
modules as scripts/export_corpus.py, at opset 11 with the legacy exporter, as the corpus' opset-11
entries, with `pykit.input_specs` metadata: voxels ~ N(0, 1), coords unique (b, z, y, x) rows (the
batch forms draw both samples' pillars from one pool, so each sample's cells are unique). torch folds
each zero canvas into an initializer (64 x 496 x 432 float32: 55 MB per sample), as it does for users,
so the models are exported where they are timed rather than committed. Then it patches each with `patch --trt 8.5` (forced: TensorRT 8.5 imports these natively) and runs
`pykit bench --model PATCHED --against ORIGINAL` (pykit.bench.model: fp32, fp16, int8 engines of
both, GPU Compute Time medians), writing OUT/<name>.json and OUT/report.md.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
MODELS = ROOT / "benchmarks" / "models"
C, NY, NX, VOXELS = 64, 496, 432, 12000
CASES = [  # name, export_corpus module, kwargs, batch size
    ("mmdet3d_pillar_scatter_single_kitti", "MMDet3DPointPillarsScatterSingle", dict(in_channels=C, ny=NY, nx=NX), 1),
    ("mmdet3d_pillar_scatter_batch_kitti", "MMDet3DPointPillarsScatterBatch", dict(in_channels=C, ny=NY, nx=NX, batch_size=2), 2),
    ("openpcdet_pillar_scatter_kitti", "OpenPCDetPointPillarScatter", dict(num_bev_features=C, nx=NX, ny=NY, batch_size=2), 2),
]


def export() -> None:
    import numpy as np
    import onnx
    import torch
    from onnx import helper

    sys.path.insert(0, str(ROOT / "scripts"))
    from export_corpus import _modules

    from pykit.surgeon.models import INPUT_SPECS_KEY

    modules = _modules()
    for name, cls, kwargs, batch in CASES:
        module = modules[cls](**kwargs).eval()
        rng = np.random.default_rng(0)
        cells = rng.choice(batch * NY * NX, size=VOXELS, replace=False)
        coords = np.stack([cells // (NY * NX), np.zeros_like(cells), cells % (NY * NX) // NX, cells % NX], 1).astype(np.int64)
        voxels = rng.standard_normal((VOXELS, C)).astype(np.float32)
        out = MODELS / name
        out.mkdir(parents=True, exist_ok=True)
        with torch.no_grad():
            torch.onnx.export(module, (torch.from_numpy(voxels), torch.from_numpy(coords)), str(out / "model.onnx"),
                              input_names=["voxels", "coords"], output_names=["output"], opset_version=11, dynamo=False)
        model = onnx.load(str(out / "model.onnx"))
        helper.set_model_props(model, {INPUT_SPECS_KEY: json.dumps({
            "voxels": {"kind": "normal"},
            "coords": {"kind": "int", "low": [0, 0, 0, 0], "high": [batch, 1, NY, NX], "unique_rows": True}})})
        onnx.checker.check_model(model)
        onnx.save(model, str(out / "model.onnx"))
        print(f"wrote {out / 'model.onnx'} ({(out / 'model.onnx').stat().st_size} bytes)")


def bench(out: Path) -> int:
    import onnx

    from pykit.bench.model import bench_model, markdown
    from pykit.surgeon.patch import patch_model
    from pykit.surgeon import rules

    out.mkdir(parents=True, exist_ok=True)
    lines = ["# PointPillars scatters at KITTI size: TensorRT's native import vs pykit's patch", "",
             "Command: `python3 benchmarks/pointpillars_kitti.py bench " + str(out) + "` (models: `benchmarks/models/`, "
             f"C={C}, canvas {NY}x{NX}, {VOXELS} pillars; see the script's docstring).", ""]
    export()
    anchors = {op for r in rules.all_rules().values() if r.plugin == "PillarScatter" for op in r.ops}
    for name, *_ in CASES:
        original_path = MODELS / name / "model.onnx"
        original = onnx.load(str(original_path))
        force = sorted(anchors & {n.op_type for n in original.graph.node})
        result = patch_model(original, trt="8.5", force=force)
        patched_path = out / f"{name}.patched.onnx"
        onnx.save(result.model, str(patched_path))
        lines += [f"## {name}", "", *[f"- {c}" for c in result.rewrites], ""]
        res = bench_model(patched_path, original_path)
        (out / f"{name}.json").write_text(json.dumps(res, indent=1) + "\n")
        lines += [markdown(res, f"pykit bench --model {patched_path} --against {original_path}"), ""]
    (out / "report.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["bench"] and len(sys.argv) == 3:
        sys.exit(bench(Path(sys.argv[2])))
    else:
        sys.exit(__doc__)
