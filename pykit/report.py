"""Plain-text and Markdown tables for command output and committed reports."""
from __future__ import annotations


def _fmt(value) -> str:
    if isinstance(value, float):
        if value == 0:
            return "0"
        return f"{value:.3g}"
    return str(value)


def text_table(headers: list[str], rows: list[list]) -> str:
    cells = [[_fmt(c) for c in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths))
    rule = "  ".join("-" * w for w in widths)
    body = ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in cells]
    return "\n".join([line, rule] + body)


def markdown_table(headers: list[str], rows: list[list]) -> str:
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    out += ["| " + " | ".join(_fmt(c).replace("|", "\\|") for c in row) + " |" for row in rows]
    return "\n".join(out)


def write_validation_report(out_dir, results, summaries, title: str, environment: dict, command: str,
                            lifecycle: list | None = None) -> list:
    """report.md + results.json (+ error_histograms.png with matplotlib) in out_dir; returns the paths.
    lifecycle: pykit.lifecycle Checks, reported in their own table."""
    import json
    from dataclasses import asdict
    from pathlib import Path

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    data = {"title": title, "environment": environment, "command": command,
            "summary": [asdict(s) for s in summaries], "results": [asdict(r) for r in results],
            "lifecycle": [asdict(c) for c in lifecycle or []]}
    (out / "results.json").write_text(json.dumps(data, indent=1, default=lambda x: None if x != x else x))
    written.append(out / "results.json")

    lines = [f"# {title}", "", "Reproduce (from the repository root):", "", "```", command, "```", "", "## Environment", ""]
    lines += [f"- {k}: {v}" for k, v in environment.items()]
    lines += ["", "## Summary", "", markdown_table(
        ["plugin", "precision", "actual precision", "cases", "max abs err", "max rel err", "worst err / allowed",
         "tolerance", "result"],
        [[s.plugin, s.precision, s.actual_precision, s.cases, s.max_abs_err, s.max_rel_err, s.worst_fraction,
          s.tolerance, s.verdict] for s in summaries])]
    if lifecycle:
        lines += ["", "## Lifecycle checks", "", "What each check does: `pykit/lifecycle.py`.", "", markdown_table(
            ["plugin", "check", "result", "detail"],
            [[c.plugin, c.check, "PASS" if c.passed else "FAIL", c.detail] for c in lifecycle])]
    lines += ["", "## Cases", "", markdown_table(
        ["plugin", "precision", "case", "actual precision", "shapes", "max abs err", "max rel err", "tolerance",
         "result"],
        [[r.plugin, r.precision, r.case, r.actual_precision, r.shapes, r.max_abs_err, r.max_rel_err, r.tolerance,
          "PASS" if r.passed else "FAIL"] for r in results])]
    failures = [r for r in results if not r.passed]
    if failures:
        lines += ["", "## Failures", ""] + [f"- {r.plugin} {r.precision} {r.case}: {r.message}" for r in failures]
    lines += [f"- lifecycle {c.plugin} {c.check}: {c.detail}" for c in lifecycle or [] if not c.passed]
    # Plot in a fresh interpreter: matplotlib's pybind11 extensions can clash with ours once
    # pykit._host/_trt are loaded (seen on the GPU machine: SystemError inside ft2font).
    import subprocess
    import sys

    png = out / "error_histograms.png"
    plot = subprocess.run([sys.executable, "-m", "pykit.report", str(out / "results.json"), str(png)],
                          capture_output=True, text=True)
    if plot.returncode == 0:
        written.append(png)
        lines += ["", "## Error histograms", "", "![|error| per element](error_histograms.png)"]
    else:
        lines += ["", f"(no error histogram plot: {plot.stderr.strip().splitlines()[-1] if plot.stderr.strip() else 'plot failed'};"
                  " the counts are in results.json)"]
    (out / "report.md").write_text("\n".join(lines) + "\n")
    written.append(out / "report.md")
    return written


def plot_error_histograms(results_json, png) -> None:
    """One panel per plugin: |error| per output element, a line per precision (from results.json)."""
    import json
    import math

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from pykit.validate import ERROR_EDGES

    results = json.loads(open(results_json).read())["results"]
    plugins = sorted({r["plugin"] for r in results})
    fig, axes = plt.subplots(1, len(plugins), figsize=(6 * len(plugins), 4), squeeze=False)
    labels = ["0"] + [f"<1e{int(round(math.log10(e)))}" for e in ERROR_EDGES[1:]] + [">=1e2"]
    for ax, plugin in zip(axes[0], plugins):
        for precision in ("fp32", "fp16", "int8"):
            hists = [r["histogram"] for r in results
                     if r["plugin"] == plugin and r["precision"] == precision and r["histogram"]]
            if hists:
                ax.plot(range(len(labels)), [sum(c) for c in zip(*hists)], marker="o", label=precision)
        ax.set_yscale("symlog")
        ax.set_xticks(range(len(labels)))
        ax.set_xticklabels(labels, rotation=60, fontsize=7)
        ax.set_title(f"{plugin}: |error| per output element")
        ax.set_ylabel("elements")
        ax.legend()
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    import sys

    plot_error_histograms(sys.argv[1], sys.argv[2])
