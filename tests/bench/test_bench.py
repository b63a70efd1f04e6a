"""pykit bench on the CPU: byte counts, statistics, the report writer, the CLI without torch/GPU,
and the launchers module's import (no timing is tested anywhere)."""
import dataclasses
import json
import subprocess
import sys

import pytest

from pykit import registry
from pykit.bench import bench_module, benched_plugins, report
from pykit.bench.timing import Stats, percentile

pillar_scatter = bench_module(registry.get("PillarScatter"))
scatter_elements_reduce = bench_module(registry.get("ScatterElementsReduce"))


def test_pillar_scatter_bytes():
    t = pillar_scatter.traffic(batch=1, channels=64, ny=496, nx=432, pillars=12000, valid=12000, itemsize=4)
    assert t.bytes == 64 * 496 * 432 * 4 + 12000 * 64 * 4 + 12000 * 16 + 4
    assert pillar_scatter.traffic(1, 64, 496, 432, 12000, 12000, 1).bytes == 64 * 496 * 432 + 12000 * 64 + 12000 * 16 + 4
    assert "canvas" in t.formula


def test_scatter_elements_reduce_bytes():
    t = scatter_elements_reduce.traffic(rows=262144, updates=1 << 20, features=16, itemsize=4)
    assert t.bytes == 2 * 262144 * 16 * 4 + (1 << 20) * 16 * 4 + (1 << 20) * 16 * 4
    t16 = scatter_elements_reduce.traffic(rows=262144, updates=1 << 20, features=16, itemsize=2)
    assert t16.bytes == 2 * 262144 * 16 * 2 + (1 << 20) * 16 * 2 + (1 << 20) * 16 * 4
    rows = scatter_elements_reduce.traffic(rows=262144, updates=1 << 20, features=16, itemsize=4, form="rows")
    assert rows.bytes == 2 * 262144 * 16 * 4 + (1 << 20) * 16 * 4 + (1 << 20) * 4  # one int32 per row


def test_cases_cover_the_issue_shapes_and_targets():
    ps = pillar_scatter.cases(["fp32", "fp16", "int8"])
    assert {(c.batch, c.precision) for c in ps} == {(b, p) for b in (1, 4) for p in ("fp32", "fp16", "int8")}
    assert {c.target_ms for c in ps if c.batch == 1 and c.precision == "fp32"} == {0.020}
    ser = scatter_elements_reduce.cases(["fp32", "fp16", "int8"])
    assert [(c.form, c.precision) for c in ser] == [(f, p) for f in ("rows", "elements") for p in ("fp32", "fp16")]  # no int8
    assert {s.name for s in benched_plugins()} >= {"PillarScatter", "ScatterElementsReduce", "LayerNorm"}


def test_percentiles_and_stats():
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == pytest.approx(50.5)
    assert percentile(values, 10) == pytest.approx(10.9)
    s = Stats.of(list(reversed(values)))
    assert (s.median_ms, s.min_ms, s.runs) == (50.5, 1.0, 100)
    with pytest.raises(ValueError):
        Stats.of([])


def fake_results():
    row = {"plugin": "PillarScatter", "shape": "B=1 P=12000 C=64 canvas 432x496", "precision": "fp32",
           "bytes": 58_000_000, "bytes_formula": "canvas + features", "target_ms": 0.02, "note": "",
           "check": {"ok": True, "detail": "bitwise equal"}, "ours": {"median_ms": 0.016, "p10_ms": 0.015,
           "p90_ms": 0.017, "min_ms": 0.015, "runs": 100}, "baselines": {"torch": {"median_ms": 0.05}},
           "torch_best": "torch", "torch_ms": 0.05, "ours_ms": 0.016, "speedup": 3.125, "gbps": 3625.0,
           "copy_fraction": 0.85, "torch_copy_fraction": 0.27, "floor_ms": 0.0136, "met": True,
           "copy_same_ms": 0.0128,
           "trt": {"skipped": "pykit._trt is not built"}}
    broken = {"plugin": "ScatterElementsReduce", "shape": "s", "precision": "fp16", "bytes": 1, "bytes_formula": "f",
              "target_ms": None, "note": "n", "error": "RuntimeError: boom"}
    return {"environment": {"gpu": "NVIDIA H200", "torch": "2.x"}, "command": "bash benchmarks/run_bench.sh",
            "copy_bandwidth": {"gbps": 4257.0, "median_ms": 0.5, "bytes": 1 << 31},
            "settings": {"iterations": 100, "warmup": 10, "l2_flush_bytes": 256 << 20},
            "results": [row, broken], "unsupported": [{"plugin": "ScatterElementsReduce", "precision": "int8",
                                                       "reason": "no int8"}],
            "launcher_validation": [{"plugin": "PillarScatter", "precision": "fp32", "cases": 9, "passed": 9,
                                     "failures": []}]}


def test_markdown_report():
    text = report.markdown(fake_results())
    assert "bash benchmarks/run_bench.sh" in text
    assert "| PillarScatter | B=1 P=12000 C=64 canvas 432x496 | fp32 | 0.0160 | 0.0500 | 3.12x | 3625 | 85% | 0.0200 | yes |" in text
    assert "RuntimeError: boom" in text
    assert "ScatterElementsReduce int8 (no int8)" in text
    assert "9/9 PASS" in text
    assert "4257 GB/s" in text
    assert "| 0.0128 | 1.25x |" in text  # the same-bytes copy and ours over it (0.016 / 0.0128)


def test_write_creates_json_and_markdown(tmp_path):
    written = report.write(tmp_path, fake_results())
    names = {p.name for p in written}
    assert {"results.json", "report.md"} <= names
    data = json.loads((tmp_path / "results.json").read_text())
    assert data["results"][0]["ours_ms"] == 0.016
    assert ("plot" in data) == ("bench.png" in names)


def test_wrong_output_is_flagged_in_the_table():
    data = fake_results()
    data["results"][0]["check"] = {"ok": False, "detail": "3 elements differ"}
    assert "WRONG OUTPUT" in report.markdown(data)


def test_cli_without_torch_or_gpu_says_why():
    code = ("import sys, types\n"
            "sys.modules['torch'] = None\n"  # import torch -> ImportError, as on a machine without it
            "from pykit.cli.__main__ import main\n"
            "sys.exit(main(['bench', '--no-trt']))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "pykit bench needs PyTorch with CUDA" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_cli_rejects_unknown_precision():
    from pykit.cli.__main__ import main

    assert main(["bench", "--precision", "fp8"]) == 2


def test_cli_rejects_a_plugin_without_a_bench_case(capsys):
    from pykit.cli.__main__ import main

    assert main(["bench", "--plugin", "NoSuchPlugin"]) == 2
    assert "NoSuchPlugin" in capsys.readouterr().err


def test_bench_module_names_the_missing_function(tmp_path):
    spec = registry.get("LayerNorm")
    folder = tmp_path / spec.snake
    folder.mkdir()
    (folder / "bench.py").write_text("def cases(precisions):\n    return []\n")
    fake = dataclasses.replace(spec, folder=folder)
    sys.modules.pop(f"pykit_plugins.{spec.snake}.bench", None)
    try:
        with pytest.raises(registry.RegistryError, match="LayerNorm: .*bench.py does not define launch_case"):
            bench_module(fake)
    finally:
        sys.modules.pop(f"pykit_plugins.{spec.snake}.bench", None)


def test_kernels_module_imports_without_a_gpu():
    """CI builds pykit._kernels (nvcc present, no GPU): importing it must make no CUDA call."""
    from pykit import extensions

    try:
        kernels = extensions.load("_kernels")
    except ImportError as exc:
        pytest.skip(f"pykit._kernels not built here: {exc}")
    # every plugin folder with a bench.cpp registered its launcher, under the spec's name
    benched = {s.name for s in registry.discover() if (s.folder / "bench.cpp").is_file()}
    assert set(kernels.launchers) == benched
    for name in benched:
        assert callable(getattr(kernels, name).launch)
    # owner map (int32 per cell) [+ v4's occupancy bitmask (a bit per cell, in 16-byte units), when built
    # with -DPYKIT_PS_FILL=0] + 16 bytes for the grid barrier's counter
    cells = 496 * 432
    assert kernels.PillarScatter.workspace(1, 64, 496, 432, 12000) in (4 * cells + 16, 4 * cells + 16 * -(-cells // 128) + 16)
    ser = kernels.ScatterElementsReduce
    assert ser.workspace("fp16", [8, 4], [16, 4], 0) == 4 * 8 * 4
    assert ser.workspace("fp32", [8, 4], [16, 4], 0) == 0
    with pytest.raises(ValueError, match="ScatterElementsReduce: precision must be one of fp32, fp16"):
        ser.workspace("int8", [8, 4], [16, 4], 0)
