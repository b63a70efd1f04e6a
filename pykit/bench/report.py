"""Benchmark results as results.json, report.md and bench.png (the plot drawn in a fresh
interpreter: matplotlib crashed on the GPU machine once pybind11 modules of ours were loaded)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from pykit.report import markdown_table

TITLE = "pykit benchmarks: CUDA launchers vs PyTorch and the copy bandwidth"


def _ms(x) -> str:
    return "—" if x is None else f"{x:.4f}"


def summary_rows(results: list[dict]) -> list[list]:
    rows = []
    for r in results:
        if "error" in r:
            rows.append([r["plugin"], r["shape"], r["precision"], "error", "", "", "", "", _ms(r.get("target_ms")),
                         r["error"].splitlines()[0]])
            continue
        met = "—" if r["met"] is None else ("yes" if r["met"] else "no")
        if not r["check"]["ok"]:
            met = "WRONG OUTPUT"
        rows.append([r["plugin"], r["shape"], r["precision"], _ms(r["ours_ms"]), _ms(r["torch_ms"]),
                     f"{r['speedup']:.2f}x", f"{r['gbps']:.0f}", f"{100 * r['copy_fraction']:.0f}%",
                     _ms(r["target_ms"]), met])
    return rows


HEADERS = ["plugin", "shape", "precision", "ours ms", "torch ms", "speedup", "GB/s", "% of copy BW", "target ms",
           "met?"]


def markdown(data: dict) -> str:
    env, copy, settings = data["environment"], data["copy_bandwidth"], data["settings"]
    lines = [f"# {TITLE}", "", "Reproduce (from the repository root, on a machine with nvcc, a CUDA GPU and torch):",
             "", "```", data["command"], "```", "", "## Environment", ""]
    lines += [f"- {k}: {v}" for k, v in env.items()]
    lines += ["", "## Method", "",
              f"- Device-to-device copy bandwidth, same run: **{copy['gbps']:.0f} GB/s** "
              f"(cudaMemcpyAsync of 1 GiB, bytes read + written over the median time {copy['median_ms']:.4f} ms).",
              f"- Times: CUDA events around one call, median of {settings['iterations']} runs after "
              f"{settings['warmup']} warm-ups; before each timed run the L2 is flushed by reading a "
              f"{settings['l2_flush_bytes'] >> 20} MiB buffer (outside the events). p10/p90 in results.json.",
              "- ours = the plugin's CUDA launcher (the code TensorRT's enqueue calls), with its memsets and every "
              "launch it makes; torch = the PyTorch op(s) doing the same, in the same process and stream; "
              "speedup = torch / ours.",
              "- GB/s = the op's minimum bytes (each input read once, each output written once) / our median; "
              "% of copy BW = that over the copy bandwidth above. Formulas per plugin below.",
              "- same-bytes copy = a device copy of half the case's bytes into the other half (so it moves "
              "the same bytes), timed and flushed like ours: at small sizes launch and ramp-up dominate, and "
              "this, not bytes / copy bandwidth, is the floor measured at that size; ours / copy = how far "
              "above it we are.",
              "- Every case is checked once before timing (outputs poisoned first): see Checks.", ""]
    lines += ["## Results", "", markdown_table(HEADERS, summary_rows(data["results"])), ""]
    if data.get("unsupported"):
        lines += ["Not run: " + "; ".join(f"{u['plugin']} {u['precision']} ({u['reason']})"
                                          for u in data["unsupported"]), ""]
    lines += ["## Details", "", markdown_table(
        ["plugin", "shape", "precision", "bytes", "floor ms", "ours p10–p90 ms", "torch op (fastest)", "torch % of copy",
         "same-bytes copy ms", "ours / copy", "TensorRT engine ms"],
        [[r["plugin"], r["shape"], r["precision"], f"{r['bytes']:,}", _ms(r.get("floor_ms")),
          f"{r['ours']['p10_ms']:.4f}–{r['ours']['p90_ms']:.4f}" if "ours" in r else "—",
          r.get("torch_best", "—"),
          f"{100 * r['torch_copy_fraction']:.0f}%" if "torch_copy_fraction" in r else "—",
          _ms(r.get("copy_same_ms")),
          f"{r['ours_ms'] / r['copy_same_ms']:.2f}x" if r.get("copy_same_ms") and "ours_ms" in r else "—",
          _ms(r["trt"].get("median_ms")) if "median_ms" in r.get("trt", {}) else "skipped"]
         for r in data["results"]]), ""]
    skips = sorted({r["trt"]["skipped"] for r in data["results"] if "skipped" in r.get("trt", {})})
    if skips:
        lines += ["TensorRT engine latency skipped: " + "; ".join(skips), ""]
    formulas = {}
    for r in data["results"]:
        formulas.setdefault(r["plugin"], r["bytes_formula"])
    lines += ["Bytes counted:", ""] + [f"- {p}: {f}" for p, f in formulas.items()] + [""]
    notes = {(r["plugin"], r["note"]) for r in data["results"] if r.get("note")}
    if notes:
        lines += ["Notes:", ""] + [f"- {p}: {n}" for p, n in sorted(notes)] + [""]
    lines += ["## Checks", ""]
    lines += [f"- {r['plugin']} {r['shape']} {r['precision']}: {'OK' if r.get('check', {}).get('ok') else 'FAILED'}"
              f" — {r.get('check', {}).get('detail', r.get('error', ''))}" for r in data["results"]]
    for v in data.get("launcher_validation", []):
        lines.append(f"- {v['plugin']} {v['precision']}: every spec validation case through the launcher "
                     f"(pykit.validate tolerances): {v['passed']}/{v['cases']} PASS"
                     + ("" if not v["failures"] else " — " + "; ".join(v["failures"])))
    lines.append("")
    if data.get("plot"):
        lines += ["## Plot", "", f"![ours vs torch]({data['plot']})", ""]
    return "\n".join(lines)


def write(out_dir, data: dict) -> list[Path]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    png = out / "bench.png"
    (out / "results.json").write_text(json.dumps(data, indent=1))
    plot = subprocess.run([sys.executable, "-m", "pykit.bench.report", str(out / "results.json"), str(png)],
                          capture_output=True, text=True)
    if plot.returncode == 0:
        data["plot"] = png.name
        written.append(png)
    else:
        data["plot_error"] = (plot.stderr.strip().splitlines() or ["plot failed"])[-1]
    (out / "results.json").write_text(json.dumps(data, indent=1))
    (out / "report.md").write_text(markdown(data))
    return [out / "results.json", out / "report.md"] + written


def plot(results_json, png) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = json.loads(Path(results_json).read_text())
    rows = [r for r in data["results"] if "ours_ms" in r]
    labels = [f"{r['plugin']}\n{r['shape'].split(',')[0]}\n{r['precision']}" for r in rows]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(max(10, 1.6 * len(rows)), 6))
    xs = range(len(rows))
    width = 0.4
    ax1.bar([x - width / 2 for x in xs], [r["ours_ms"] * 1e3 for r in rows], width, label="pykit launcher")
    ax1.bar([x + width / 2 for x in xs], [r["torch_ms"] * 1e3 for r in rows], width, label="PyTorch (fastest)")
    for x, r in zip(xs, rows):
        if r.get("target_ms"):
            ax1.plot([x - 0.45, x + 0.45], [r["target_ms"] * 1e3] * 2, "k--", lw=1)
        ax1.plot([x - 0.45, x + 0.45], [r["floor_ms"] * 1e3] * 2, "r:", lw=1)
    ax1.set_yscale("log")
    ax1.set_ylabel("median time, µs (log)   -- target   ··· copy-bandwidth floor")
    ax1.set_xticks(list(xs), labels, fontsize=7)
    ax1.legend()
    ax2.bar([x - width / 2 for x in xs], [100 * r["copy_fraction"] for r in rows], width, label="pykit launcher")
    ax2.bar([x + width / 2 for x in xs], [100 * r["torch_copy_fraction"] for r in rows], width,
            label="PyTorch (same byte count)")
    ax2.axhspan(70, 80, color="green", alpha=0.1, label="goal 70–80%")
    ax2.set_ylabel("% of device-to-device copy bandwidth")
    ax2.set_xticks(list(xs), labels, fontsize=7)
    ax2.legend()
    env = data["environment"]
    fig.suptitle(f"{env['gpu']}, copy {data['copy_bandwidth']['gbps']:.0f} GB/s, torch {env['torch']}")
    fig.tight_layout()
    fig.savefig(png, dpi=110)


if __name__ == "__main__":
    plot(sys.argv[1], sys.argv[2])
