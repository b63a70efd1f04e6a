#!/usr/bin/env python3
"""The PointPillars scatters at KITTI size, native import vs patched (issue #16 item 4).

The corpus' PointPillars exports (tests/corpus) are small on purpose (CI runs them on CPU); at that
size an engine's time is launch overhead. The speed question is about real shapes: mmdet3d's KITTI
PointPillars config (in_channels 64, output_shape [496, 432], max_voxels 12000 at test time) and
OpenPCDet's pointpillar.yaml (NUM_BEV_FEATURES 64, grid 432 x 496, MAX_NUMBER_OF_VOXELS 12000 at test).

    python3 benchmarks/pointpillars_kitti.py bench OUT [NAME ...]   # on the GPU machine: torch, TensorRT

`bench` first exports (torch; into the git-ignored benchmarks/models/<name>/model.onnx) the same
modules as scripts/export_corpus.py, at opset 11 with the legacy exporter, as the corpus' opset-11
entries, with `pykit.input_specs` metadata: voxels ~ N(0, 1), coords unique (b, z, y, x) rows (the
batch forms draw both samples' pillars from one pool, so each sample's cells are unique). torch folds
each zero canvas into an initializer (64 x 496 x 432 float32: 55 MB per sample), as it does for users,
so the models are exported where they are timed rather than committed. Then it patches each with `patch --trt 8.5` (forced: TensorRT 8.5 imports these natively) and runs
`pykit bench --model PATCHED --against ORIGINAL` (pykit.bench.model: fp32, fp16, int8 engines of
both, GPU Compute Time medians), writing OUT/<name>.json and OUT/report.md.

NAME: only these cases (default all three). A model already in benchmarks/models/ (loadable, with its
input specs) is not exported again. Each phase prints a line with the seconds since the start, and each
case's OUT/<name>.json and OUT/report.md are written as soon as the case is done, so a run cut short
keeps what it finished. A case whose patch rewrote nothing (e.g. a proof that could not draw its probes)
is recorded with patch's reasons and not benched: its "patched" model would be the original.
"""
from __future__ import annotations

import json
import sys
import time
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
START = time.perf_counter()


def log(msg: str) -> None:
    print(f"[{time.perf_counter() - START:7.1f} s] {msg}", flush=True)


def _exported(path: Path) -> bool:
    """Whether ``path`` holds a loadable model with its input specs (an export cut short has neither)."""
    import onnx

    from pykit.surgeon.models import INPUT_SPECS_KEY

    try:
        return path.is_file() and any(p.key == INPUT_SPECS_KEY for p in onnx.load(str(path)).metadata_props)
    except Exception:
        return False


def _selected(names):
    """The CASES named (all where names is None)."""
    return [c for c in CASES if names is None or c[0] in names]


def export(names=None) -> None:
    import numpy as np
    import onnx
    import torch
    from onnx import helper

    sys.path.insert(0, str(ROOT / "scripts"))
    from export_corpus import _modules

    from pykit.surgeon.models import INPUT_SPECS_KEY

    modules = _modules()
    for name, cls, kwargs, batch in _selected(names):
        if _exported(MODELS / name / "model.onnx"):
            log(f"kept {MODELS / name / 'model.onnx'} (exported before; delete it to export again)")
            continue
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
        log(f"wrote {out / 'model.onnx'} ({(out / 'model.onnx').stat().st_size} bytes)")


def bench(out: Path, names=None) -> int:
    import onnx

    from pykit.bench.model import bench_model, markdown
    from pykit.surgeon.patch import patch_model
    from pykit.surgeon import rules

    out.mkdir(parents=True, exist_ok=True)
    lines = ["# PointPillars scatters at KITTI size: TensorRT's native import vs pykit's patch", "",
             "Command: `python3 benchmarks/pointpillars_kitti.py bench " + " ".join([str(out), *(names or [])]) + "` "
             f"(models: `benchmarks/models/`, C={C}, canvas {NY}x{NX}, {VOXELS} pillars; see the script's docstring).", ""]
    export(names)
    anchors = {op for r in rules.all_rules().values() if r.plugin == "PillarScatter" for op in r.ops}
    for name, *_ in _selected(names):
        original_path = MODELS / name / "model.onnx"
        original = onnx.load(str(original_path))
        force = sorted(anchors & {n.op_type for n in original.graph.node})
        log(f"{name}: patch --trt 8.5 --node {' '.join(force)}")
        t0 = time.perf_counter()
        result = patch_model(original, trt="8.5", force=force)
        patch_s = round(time.perf_counter() - t0, 1)
        log(f"{name}: patched in {patch_s} s: {len(result.rewrites)} rewrite(s), {len(result.unpatched)} left unpatched")
        lines += [f"## {name}", "", f"Patch: {patch_s} s on CPU (each rewrite proven on probes).", "",
                  *[f"- {c}" for c in result.rewrites], *[f"- unpatched: {u}" for u in result.unpatched], ""]
        record = {"original": str(original_path), "patch_s": patch_s, "rewrites": [str(c) for c in result.rewrites],
                  "unpatched": result.unpatched}
        if result.rewrites:
            patched_path = out / f"{name}.patched.onnx"
            onnx.save(result.model, str(patched_path))
            log(f"{name}: wrote {patched_path}; bench (fp32, fp16, int8 engines of both)")
            t0 = time.perf_counter()
            res = bench_model(patched_path, original_path, log=lambda msg: log(f"{name}: {msg}"))
            res.update(patch_s=patch_s, bench_s=round(time.perf_counter() - t0, 1), unpatched=result.unpatched)
            log(f"{name}: benched in {res['bench_s']} s")
            record = res
            lines += [markdown(res, f"pykit bench --model {patched_path} --against {original_path}"), ""]
        else:
            lines += ["Not benched: patch rewrote nothing (reasons above), so the patched model would be the original.", ""]
        (out / f"{name}.json").write_text(json.dumps(record, indent=1) + "\n")
        (out / "report.md").write_text("\n".join(lines) + "\n")  # rewritten after each case: partial results survive
    log(f"wrote {out / 'report.md'}")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    known = [c[0] for c in CASES]
    if sys.argv[1:2] == ["bench"] and len(sys.argv) >= 3 and all(n in known for n in sys.argv[3:]):
        sys.exit(bench(Path(sys.argv[2]), sys.argv[3:] or None))
    else:
        sys.exit(__doc__)
