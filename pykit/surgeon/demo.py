"""The main job on a fresh CPU machine: build the PointPillars-like model, inspect it for TensorRT
8.5, patch it, prove equivalence at fp32/fp16/int8 with the host backend, lint the result, and
write the models and a Markdown report. The ScatterElements(reduction=add) model goes the same way
(fp32/fp16, the precisions its plugin has) when ScatterElementsReduce's host kernel is built."""
from __future__ import annotations

import time
from pathlib import Path

from pykit.surgeon.model import SurgeryError, save_atomic


def _job(name, model, out: Path, trt: str, precisions, backend: str, seed: int, log) -> tuple[bool, list[str]]:
    from pykit.surgeon.equiv import equivalence
    from pykit.surgeon.inspect import inspect_model
    from pykit.surgeon.lint import lint_model
    from pykit.surgeon.patch import patch_model

    md = [f"## {name}", "", model.doc_string, ""]
    ok = True
    orig_path, patched_path = out / f"{name}.onnx", out / f"{name}.patched.onnx"
    save_atomic(model, orig_path)
    report = inspect_model(model, trt)
    log(f"[{name}] inspect --trt {trt}:\n" + report.text())
    flagged = [f for f in report.blocking]
    md += [f"### inspect --trt {trt}", "", "```", report.text(), "```", ""]
    if not flagged or not all(f.takers for f in flagged):
        ok = False
        md.append("**FAIL**: expected flagged nodes, each with a registered plugin that takes it")
    result = patch_model(model, trt=trt)
    save_atomic(result.model, patched_path)
    log(f"[{name}] patch --trt {trt}:\n" + "\n".join(str(c) for c in result.changes))
    md += ["### patch", "", "```", *[str(c) for c in result.changes], "```", ""]
    after = inspect_model(result.model, trt)
    if after.blocking:
        ok = False
        md.append(f"**FAIL**: the patched model still has {len(after.blocking)} node(s) TensorRT {trt} cannot take")
    else:
        md.append(f"After patching, TensorRT {trt} imports every node: {len(after.segments)} segment(s) of "
                  f"{', '.join(str(s.size) for s in after.segments)} node(s).")
        md.append("")
    results = equivalence(model, result.model, precisions, backend=backend, seed=seed)
    lines = [line for r in results for line in r.lines()]
    log(f"[{name}] equiv ({backend}):\n" + "\n".join(lines))
    md += [f"### equivalence ({backend} backend, seed {seed})", "", "```", *lines, "```", ""]
    ok &= all(r.passed for r in results)
    errors, checked = lint_model(result.model)
    log(f"[{name}] lint: {checked} plugin node(s), {len(errors)} error(s)")
    md += ["### lint", "", f"{checked} plugin node(s) checked, {len(errors)} error(s)", *[f"- {e}" for e in errors], ""]
    ok &= not errors
    md += [f"Files: `{orig_path.name}`, `{patched_path.name}`. Verdict: **{'PASS' if ok else 'FAIL'}**", ""]
    return ok, md


def run_demo(out: str | Path = "pykit-demo", trt: str = "8.5", seed: int = 0, backend: str = "host", log=print) -> bool:
    from pykit import registry
    from pykit.surgeon.models import pointpillars_like, scatter_reduce_model

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    md = ["# pykit demo: graph surgery for TensorRT " + trt, "",
          "Each model: inspect for the target parser, patch with the plugin folders' rules, prove on CPU that "
          "the patched model equals the original (pykit.surgeon.equiv: the error model is in its docstring; "
          "plugin nodes run on the " + backend + " backend), lint the plugin nodes.", ""]
    ok, part = _job("pointpillars_like", pointpillars_like(seed=seed), out, trt, ["fp32", "fp16", "int8"], backend, seed, log)
    md += part
    names = {s.name for s in registry.discover()}
    skip = None
    backend2 = backend
    if "ScatterElementsReduce" not in names:
        skip = "ScatterElementsReduce is not registered"
    elif backend == "host":
        from pykit.backends.host import host_module

        if "ScatterElementsReduce" not in host_module().plugins():
            log("[scatter_elements_add] ScatterElementsReduce has no host kernel in this build of pykit._host: "
                "its numpy reference runs the plugin node instead")
            md += ["(ScatterElementsReduce has no host kernel in this build of pykit._host: the plugin node of the "
                   "next model runs on its numpy reference.)", ""]
            backend2 = "reference"
    if skip:
        log(f"[scatter_elements_add] skipped: {skip}")
        md += ["## scatter_elements_add", "", f"Skipped: {skip}.", ""]
    else:
        ok2, part = _job("scatter_elements_add", scatter_reduce_model(), out, trt, ["fp32", "fp16"], backend2, seed, log)
        ok &= ok2
        md += part
    md += [f"Overall: **{'PASS' if ok else 'FAIL'}** ({time.time() - t0:.1f} s). TensorRT engine validation "
           "is not part of this CPU run.", ""]
    (out / "report.md").write_text("\n".join(md))
    log(f"demo: {'PASS' if ok else 'FAIL'}; models and report.md in {out}")
    return ok


__all__ = ["run_demo", "SurgeryError"]
