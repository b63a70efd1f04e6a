"""Side-by-side table of one `benchmarks/ab.sh` run: every case's median launcher time (µs) per
variant, the current tree first, and each variant's time relative to the current tree's (ratios
within one run are what to compare; docs/benchmarks/README.md). Usage: python benchmarks/ab_table.py OUT_DIR
"""
from __future__ import annotations

import json
import sys
from pathlib import Path


def _load(path: Path) -> dict[tuple[str, str, str], dict]:
    rows = json.loads(path.read_text())["results"]
    return {(r["plugin"], r["shape"], r["precision"]): r for r in rows}


def table(out_dir: Path) -> str:
    current = out_dir / "current" / "results.json"
    runs = {"current": _load(current)} if current.is_file() else {}
    for f in sorted(out_dir.glob("*.json")):
        runs[f.stem] = _load(f)
    if not runs:
        return f"no results under {out_dir}"
    names = list(runs)
    keys = list(dict.fromkeys(k for r in runs.values() for k in r))
    lines = ["| plugin | shape | precision | floor µs | same-bytes copy µs | " + " | ".join(f"{n} µs" for n in names)
             + " | torch µs |", "|---" * (len(names) + 6) + "|"]
    for key in keys:
        base = runs["current"].get(key) if "current" in runs else None
        cells = []
        for n in names:
            r = runs[n].get(key)
            if r is None or r.get("ours_ms") is None:
                cells.append("—")
                continue
            t = r["ours_ms"] * 1e3
            bad = "" if r.get("check", {}).get("ok", True) else " WRONG"
            rel = f" ({t / (base['ours_ms'] * 1e3):.2f}x)" if base and base.get("ours_ms") and n != "current" else ""
            cells.append(f"{t:.1f}{rel}{bad}")
        any_run = next(runs[n][key] for n in names if key in runs[n])
        us = lambda ms: "—" if ms is None else f"{ms * 1e3:.1f}"  # noqa: E731
        lines.append(f"| {key[0]} | {key[1]} | {key[2]} | {us(any_run.get('floor_ms'))} | "
                     f"{us(any_run.get('copy_same_ms'))} | " + " | ".join(cells) + f" | {us(any_run.get('torch_ms'))} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(table(Path(sys.argv[1] if len(sys.argv) > 1 else ".")))
