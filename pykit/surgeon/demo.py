"""The main job on a fresh CPU machine: take each plugin folder's example models (models.py:
PillarScatter's seed-003 PointPillars export, ScatterElementsReduce's ScatterElements(reduction=add)
model), say what every TensorRT parser version pykit knows does with the original, inspect them for
the target, patch them (the nodes inspect flags, and those a models.py ``FORCE`` names: rewritten
for speed although TensorRT imports them; every rewrite with its proof), prove equivalence at the
precisions of the plugin's spec with the host backend (on the stored inputs and against the stored
outputs where models.py ``DATA`` has them), lint the result, and write the models and a Markdown
report."""
from __future__ import annotations

import time
from pathlib import Path

from pykit.surgeon.model import SurgeryError, save_atomic


def _versions(model) -> list[str]:
    """One line per TensorRT parser table: what that version does with the model."""
    from pykit.surgeon.inspect import inspect_model, load_table

    lines = []
    for v in ("8.5", "8.6", "10.0", "10.15", "11"):
        r = inspect_model(model, v)
        t = load_table(v)
        where = f"TensorRT {r.trt} (opset {t['opset_min']}..{t['opset_max']})"
        verdicts = [f"{f.node} ({f.op}): {f.kind}, {f.message}" for f in r.blocking] + list(r.limits)
        lines.append(f"{where}: " + ("; ".join(verdicts) if verdicts else "imports every node natively"))
    return lines


def _job(name, model, out: Path, trt: str, precisions, backend: str, seed: int, log,
         force=(), data: Path | None = None) -> tuple[bool, list[str]]:
    from pykit.surgeon.equiv import equivalence, load_stored
    from pykit.surgeon.inspect import inspect_model
    from pykit.surgeon.lint import lint_model
    from pykit.surgeon.patch import patch_model

    md = [f"## {name}", "", model.doc_string, ""]
    ok = True
    orig_path, patched_path = out / f"{name}.onnx", out / f"{name}.patched.onnx"
    save_atomic(model, orig_path)
    versions = _versions(model)
    log(f"[{name}] the original, by TensorRT parser version:\n" + "\n".join(versions))
    md += ["### the original, by TensorRT parser version (pykit's operator tables)", "",
           *[f"- {line}" for line in versions], ""]
    report = inspect_model(model, trt)
    log(f"[{name}] inspect --trt {trt}:\n" + report.text())
    flagged = [f for f in report.blocking]
    md += [f"### inspect --trt {trt}", "", "```", report.text(), "```", ""]
    if not (flagged or force) or not all(f.takers for f in flagged):
        ok = False
        md.append("**FAIL**: expected flagged nodes, each with a registered plugin that takes it, or forced rewrites")
    result = patch_model(model, trt=trt, force=list(force))
    save_atomic(result.model, patched_path)
    if result.unpatched:  # a forced node no rule replaced (what inspect still flags is checked below)
        ok = False
        md += ["**FAIL**: left unpatched:", *[f"- {line}" for line in result.unpatched], ""]
    flagged_nodes = {(f.graph, f.node) for f in flagged}
    # a rewrite of nodes inspect did not flag is one the demo forced: say why it is there
    for_speed = [f"{c.plugin_node} ({', '.join(c.nodes)}): imported natively by TensorRT {trt}; rewritten for speed, "
                 f"proven on {c.proof.probes} probes (max |diff| {c.proof.max_diff:.3g})"
                 for c in result.rewrites if not any((c.graph, n) in flagged_nodes for n in c.nodes)]
    log(f"[{name}] patch --trt {trt}" + (f" --node {' --node '.join(force)}" if force else "") + ":\n"
        + "\n".join([str(c) for c in result.changes] + for_speed))
    md += ["### patch" + (f" (forced: {', '.join(force)})" if force else ""), "",
           "```", *[str(c) for c in result.changes], "```", "", *[f"- {line}" for line in for_speed], ""]
    after = inspect_model(result.model, trt)
    if after.blocking:
        ok = False
        md.append(f"**FAIL**: the patched model still has {len(after.blocking)} node(s) TensorRT {trt} cannot take")
    else:
        md.append(f"After patching, TensorRT {trt} imports every node: {len(after.segments)} segment(s) of "
                  f"{', '.join(str(s.size) for s in after.segments)} node(s).")
        md.append("")
    feeds = stored = None
    if data is not None:
        feeds, stored = load_stored(model, data)
    results = equivalence(model, result.model, precisions, backend=backend, seed=seed, feeds=feeds, stored=stored)
    lines = [line for r in results for line in r.lines()]
    on = f"stored inputs and outputs of {data.name}" if data is not None else f"seed {seed}"
    log(f"[{name}] equiv ({backend}, {on}):\n" + "\n".join(lines))
    md += [f"### equivalence ({backend} backend, {on})", "", "```", *lines, "```", ""]
    ok &= all(r.passed for r in results)
    errors, checked = lint_model(result.model)
    log(f"[{name}] lint: {checked} plugin node(s), {len(errors)} error(s)")
    md += ["### lint", "", f"{checked} plugin node(s) checked, {len(errors)} error(s)", *[f"- {e}" for e in errors], ""]
    ok &= not errors
    md += [f"Files: `{orig_path.name}`, `{patched_path.name}`. Verdict: **{'PASS' if ok else 'FAIL'}**", ""]
    return ok, md


def run_demo(out: str | Path = "pykit-demo", trt: str = "8.5", seed: int = 0, backend: str = "host", log=print) -> bool:
    """Every example model of every plugin folder with a models.py (its ``demos(seed)``), at the
    precisions of that plugin's spec."""
    from pykit import registry

    with_models = [s for s in registry.discover() if (s.folder / "models.py").is_file()]
    if not with_models:
        raise SurgeryError("no plugin folder has example models (models.py): nothing to demonstrate")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    md = ["# pykit demo: graph surgery for TensorRT " + trt, "",
          "Each model: inspect for the target parser, patch with the plugin folders' rules, prove on CPU that "
          "the patched model equals the original (pykit.surgeon.equiv: the error model is in its docstring; "
          "plugin nodes run on the " + backend + " backend), lint the plugin nodes.", ""]
    ok = True
    compiled = None
    if backend == "host":
        from pykit.backends.host import host_module

        compiled = set(host_module().plugins())
    for spec in with_models:
        runs_on = backend
        if compiled is not None and spec.name not in compiled:
            log(f"[{spec.name}] no host kernel in this build of pykit._host: its numpy reference runs the plugin node")
            md += [f"({spec.name} has no host kernel in this build of pykit._host: the plugin node of the next "
                   "model runs on its numpy reference.)", ""]
            runs_on = "reference"
        models = registry.load_module(spec, "models")
        forced, data = getattr(models, "FORCE", {}), getattr(models, "DATA", {})
        for name, model in models.demos(seed).items():
            passed, part = _job(name, model, out, trt, list(spec.precisions), runs_on, seed, log, forced.get(name, ()),
                                data.get(name))
            ok &= passed
            md += part
    md += [f"Overall: **{'PASS' if ok else 'FAIL'}** ({time.time() - t0:.1f} s). TensorRT engine validation "
           "is not part of this CPU run.", ""]
    (out / "report.md").write_text("\n".join(md))
    log(f"demo: {'PASS' if ok else 'FAIL'}; models and report.md in {out}")
    return ok


__all__ = ["run_demo", "SurgeryError"]
