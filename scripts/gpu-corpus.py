#!/usr/bin/env python3
"""The corpus on a GPU with TensorRT (issue #11 item 8): every model of tests/corpus (and `pykit
demo`'s export), as TensorRT imports it and as pykit patches it, in real engines.

    . /tmp/tensorrt/env.sh && PYKIT_BUILD_DIR=build/gpu python3 scripts/gpu-corpus.py docs/validation/corpus

(scripts/gpu-validate.sh builds build/gpu first and runs this.) Per model:

1. the installed TensorRT's ONNX parser on the original, whole and node by node, next to pykit's
   offline table (pykit.surgeon.parse_online): parser.md lists every disagreement;
2. the original built natively at fp32 and fp16 where the parser takes it, run on the stored
   inputs and compared with the stored expected outputs; its GPU latency (median, trtexec's GPU
   Compute Time);
3. `patch --trt 8.5` (forced rules where 8.5 imports the node natively but slower: the taker's rule
   ops), then `validate --model PATCHED --against ORIGINAL` at fp32, fp16 and int8 (mixed where a
   plugin has no int8) on the stored inputs, compared with onnxruntime on the original and with the
   stored outputs (pykit.validate_model: its error model and tolerances); latency of each engine.

Models run in parallel worker processes (--jobs): TensorRT's builder is mostly CPU work.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import re
import shlex
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CORPUS = ROOT / "tests" / "corpus"
DEMO = {"name": "pykit demo: seed003_pointpillars_opset10", "kind": "torch_export", "taker": "PillarScatter",
        "folder": "plugins/pillar_scatter/demo", "data": "data.npz", "ops": {"all_ops": ["Scatter"]}}
NATIVE_PRECISIONS = ("fp32", "fp16")


def entries(only: str | None) -> list[dict]:
    index = json.loads((CORPUS / "index.json").read_text())["models"]
    out = [e for e in index + [DEMO] if not only or re.search(only, e["name"])]
    return out


def folder_of(entry: dict) -> Path:
    return ROOT / entry["folder"] if "folder" in entry else CORPUS / entry["name"]


def forced_ops(entry: dict) -> list[str]:
    """The taker's rule anchors the model holds: rewritten even where TensorRT 8.5 imports them."""
    from pykit.surgeon import rules

    if not entry.get("taker"):
        return []
    anchors = {op for r in rules.all_rules().values() if r.plugin == entry["taker"] for op in r.ops}
    return sorted(anchors & set(entry["ops"]["all_ops"]))


def compare(got: dict, expected: dict, rtol: float, atol: float) -> dict:
    """max |y - S| <= rtol * max|S| + atol per output (pykit.validate_model's model)."""
    worst = {}
    ok = True
    for name, want in expected.items():
        y = np.asarray(got[name], np.float64).reshape(np.shape(want))
        s = np.asarray(want, np.float64)
        err = float(np.max(np.abs(y - s), initial=0.0))
        allowed = rtol * float(np.max(np.abs(s), initial=0.0)) + atol
        worst[name] = {"max_abs_err": err, "allowed": allowed, "passed": bool(err <= allowed or (np.isnan(s).any() and np.array_equal(np.isnan(y), np.isnan(s))))}
        ok &= worst[name]["passed"]
    return {"passed": ok, "outputs": worst}


def native(entry, original, feeds, expected, parse_ok: bool) -> dict:
    """The original as TensorRT imports it, per precision: stored-output check and latency."""
    from pykit.backends import trt
    from pykit.validate_model import ATOL, RTOL, engine_feeds, parser_bytes

    if not parse_ok:
        return {"skipped": "TensorRT's parser refuses the original"}
    _trt = trt.trt_module()
    builder = trt.builder()
    try:
        blob = parser_bytes(original)
    except Exception as exc:  # above the parser's opset / IR limits: `patch --trt 8.5` converts it
        return {"skipped": f"not parsed as exported: {exc}"}
    out = {}
    for precision in NATIVE_PRECISIONS:
        try:
            engine = _trt.Engine(builder.build_onnx(blob, precision, {}))
            types = {d["name"]: d["dtype"] for d in engine.io() if d["input"]}
            got = engine.run(engine_feeds(feeds, types))
            res = compare(got, expected, RTOL[precision], ATOL)
            timing = engine.latency(engine_feeds(feeds, types), 0, 20, 200)
            res["gpu_ms"] = float(np.median(timing["gpu_ms"]))
            out[precision] = res
        except Exception as exc:
            out[precision] = {"passed": False, "error": f"{type(exc).__name__}: {str(exc)[:500]}"}
    return out


STAGE = [lambda stage: None]  # set by worker(): tells the parent what a model is doing (for hangs)


def run_one(entry: dict) -> dict:
    import onnx

    from pykit.surgeon.equiv import load_stored
    from pykit.surgeon.parse_online import parse_online
    from pykit.surgeon.patch import patch_model

    t0 = time.time()
    res = {"name": entry["name"], "kind": entry["kind"], "taker": entry.get("taker")}
    try:
        folder = folder_of(entry)
        original = onnx.load(str(folder / "model.onnx"))
        feeds, expected = load_stored(original, folder / entry["data"])
        if entry.get("wrong_export"):
            # the export does not compute what torch did (tests/test_corpus.py keeps the record): its
            # engines are compared with the original on onnxruntime, not with torch's outputs
            import onnxruntime as ort

            session = ort.InferenceSession(original.SerializeToString(), providers=["CPUExecutionProvider"])
            expected = dict(zip(expected, session.run(list(expected), feeds)))
            res["compared_with"] = "onnxruntime (wrong export: " + entry["wrong_export"] + ")"
        STAGE[0]("parse (TensorRT's ONNX parser, whole model and node by node)")
        online = parse_online(original, "8.5")
        res["parser"] = {"whole_ok": online.whole_ok, "errors": online.whole_errors,
                         "refused": [v.line() for v in online.nodes if not v.parser_ok],
                         "disagreements": [v.line() for v in online.disagreements], "not_parsed": online.not_parsed}
        STAGE[0]("native engines of the original")
        res["native"] = native(entry, original, feeds, expected, online.whole_ok)
        force = forced_ops(entry)
        res["forced"] = force
        if not entry.get("taker") and "skipped" in res["native"]:
            # no plugin meant for it: what `patch --trt 8.5` makes of it (opset/IR conversion) natively
            from pykit.backends import trt
            from pykit.surgeon.parse_online import _outcome

            converted = patch_model(original, trt="8.5").model
            parsed, errors = _outcome(trt.parse_onnx(converted))
            res["native_after_patch"] = native(entry, converted, feeds, expected, parsed) if parsed else {
                "skipped": "the parser refuses it after patch --trt 8.5: " + "; ".join(errors)}
        if entry.get("taker"):
            STAGE[0]("patch + validate_model (patched engines)")
            result = patch_model(original, trt="8.5", force=force)
            res["patch"] = {"exit_code": result.exit_code, "rewrites": [str(c) for c in result.rewrites],
                            "unpatched": list(result.unpatched)}
            with tempfile.TemporaryDirectory() as tmp:
                patched_path, original_path = Path(tmp) / "patched.onnx", Path(tmp) / "original.onnx"
                onnx.save(result.model, str(patched_path))
                onnx.save(original, str(original_path))
                from pykit.validate_model import validate_model

                report = validate_model(patched_path, original_path, ("fp32", "fp16", "int8"),
                                        feeds=[feeds], expected=[expected], log=lambda *_: None)
            res["patched"] = report
            res["passed"] = bool(report.get("passed")) and result.exit_code == 0
        else:
            nat = res.get("native_after_patch", res["native"])
            res["passed"] = all(v.get("passed") for v in nat.values()) if "skipped" not in nat else False
    except Exception as exc:
        res["error"] = f"{type(exc).__name__}: {exc}"
        res["traceback"] = traceback.format_exc()[-3000:]
        res["passed"] = False
    res["seconds"] = round(time.time() - t0, 1)
    return res


def worker(chunk, queue):
    def stage(what):
        queue.put(("stage", current[0], what))
    STAGE[0] = stage
    current = [None]
    for entry in chunk:
        current[0] = entry["name"]
        queue.put(("start", entry["name"], time.time()))
        queue.put(("result", entry["name"], run_one(entry)))
    queue.put(("end", None, None))


def engines_line(r: dict) -> str:
    rows = []
    for e in r.get("patched", {}).get("engines", []):
        ran = ",".join(f"{k}:{v}" for k, v in e.get("plugins_ran", {}).items())
        ms = f" {e['gpu_ms']:.3f} ms" if e.get("gpu_ms") is not None else ""
        rows.append(f"{e['variant']} {'PASS' if e['passed'] else 'FAIL'} [{ran}]{ms}"
                    + (f" ({e['message'][:160]})" if not e["passed"] and e.get("message") else ""))
    return "; ".join(rows)


def native_line(r: dict) -> str:
    nat = r.get("native", {})
    if "skipped" in nat and "native_after_patch" in r:
        return nat["skipped"] + "; after patch --trt 8.5 (conversion only): " + native_line({"native": r["native_after_patch"]})
    if "skipped" in nat:
        return nat["skipped"]
    parts = []
    for p, v in nat.items():
        if "error" in v:
            parts.append(f"{p} FAIL ({v['error'][:120]})")
        else:
            parts.append(f"{p} {'PASS' if v['passed'] else 'FAIL'} {v['gpu_ms']:.3f} ms")
    return "; ".join(parts)


def markdown(results: list[dict], command: str, env: dict) -> tuple[str, str]:
    passed = sum(1 for r in results if r["passed"])
    md = ["# The corpus in TensorRT engines", "",
          f"Command: `{command}`", "", f"Environment: {json.dumps(env)}", "",
          f"**{passed}/{len(results)} models PASS.** Original: native import at fp32/fp16 where TensorRT's parser "
          "takes it, against the stored outputs, and its latency. Patched: `patch --trt 8.5` (forced rules listed) "
          "then pykit.validate_model at fp32, fp16, int8 (mixed where a plugin has no int8) on the stored inputs; "
          "what each plugin ran in is read back from the engine.", "",
          "| model | taker | parser | native (stored outputs, GPU ms) | patched engines (plugins ran, GPU ms) | verdict |",
          "| --- | --- | --- | --- | --- | --- |"]
    for r in results:
        parser = r.get("parser", {})
        p = "parses" if parser.get("whole_ok") else ("refuses: " + "; ".join(parser.get("errors", []))[:160])
        verdict = "PASS" if r["passed"] else ("ERROR: " + r["error"][:200] if "error" in r else "FAIL")
        md.append(f"| {r['name']} | {r.get('taker') or '-'} | {p} | {native_line(r)} | {engines_line(r) or '-'} | {verdict} |")
    pp = [r for r in results if r.get("taker") == "PillarScatter" and "patched" in r]
    if pp:
        md += ["", "## PointPillars: native import vs patched (GPU ms, median)", "",
               "| model | native fp32 | patched fp32 | native fp16 | patched fp16 |", "| --- | --- | --- | --- | --- |"]
        for r in pp:
            nat = r.get("native", {})
            eng = {e["variant"]: e for e in r["patched"].get("engines", [])}

            def ms(d):
                return f"{d['gpu_ms']:.4f}" if d and d.get("gpu_ms") is not None else "-"
            md.append(f"| {r['name']} | {ms(nat.get('fp32'))} | {ms(eng.get('fp32'))} | {ms(nat.get('fp16'))} | {ms(eng.get('fp16'))} |")
    parser_md = ["# TensorRT's ONNX parser vs pykit's offline table, on the corpus", "",
                 f"Command: `{command}`", "",
                 "Each model's original parsed whole and node by node (pykit.surgeon.parse_online) by the installed "
                 "TensorRT; a disagreement is a node the table says the parser refuses and it imports, or the reverse.", ""]
    for r in results:
        parser = r.get("parser")
        if not parser:
            continue
        if parser["disagreements"] or parser["refused"]:
            parser_md += [f"## {r['name']}", "", *[f"- {x}" for x in parser["refused"]], "",
                          *(["Disagreements:", "", *[f"- {x}" for x in parser["disagreements"]], ""] if parser["disagreements"] else [])]
    total = sum(len(r.get("parser", {}).get("disagreements", [])) for r in results)
    parser_md.insert(4, f"**{total} disagreement(s) over {len(results)} models.**\n")
    return "\n".join(md) + "\n", "\n".join(parser_md) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", nargs="?", default="docs/validation/corpus")
    ap.add_argument("--jobs", type=int, default=min(8, os.cpu_count() or 1))
    ap.add_argument("--only", help="regex over model names")
    ap.add_argument("--model-timeout", type=int, default=90,
                    help="seconds one model may take before its worker is replaced and the model recorded as hung")
    args = ap.parse_args(argv)
    todo = entries(args.only)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    pending = [todo[k::args.jobs] for k in range(args.jobs)]
    workers = {}  # process -> {"left": entries not yet reported, "name", "since", "stage"}

    def start(chunk):
        proc = ctx.Process(target=worker, args=(chunk, queue))
        proc.start()
        workers[proc] = {"left": list(chunk), "name": None, "since": time.time(), "stage": "starting"}

    for chunk in pending:
        if chunk:
            start(chunk)
    results = []
    by_name = {}

    def record(r):
        results.append(r)
        print(f"[{len(results)}/{len(todo)}] {'PASS' if r['passed'] else 'FAIL'} {r['name']} ({r['seconds']} s)"
              + (f" {r['error']}" if "error" in r else ""), flush=True)

    while workers:
        try:
            kind, name, value = queue.get(timeout=5)
        except Exception:
            kind = None
        if kind is not None:
            w = next((w for w in workers.values() if name in [e["name"] for e in w["left"]] or w["name"] == name), None)
            if kind == "start" and w is not None:
                w.update(name=name, since=value, stage="starting")
            elif kind == "stage" and w is not None:
                w["stage"] = value
            elif kind == "result" and w is not None:
                w["left"] = [e for e in w["left"] if e["name"] != name]
                w["name"] = None
                record(value)
        for proc, w in list(workers.items()):
            if not proc.is_alive() and not w["left"]:
                del workers[proc]
            elif w["name"] is not None and time.time() - w["since"] > args.model_timeout:
                # a hang inside TensorRT cannot be interrupted from Python: the worker is replaced
                proc.kill()
                proc.join()
                del workers[proc]
                record({"name": w["name"], "kind": "-", "taker": None, "passed": False, "seconds": args.model_timeout,
                        "error": f"hung: no answer in {args.model_timeout} s during {w['stage']}"})
                rest = [e for e in w["left"] if e["name"] != w["name"]]
                if rest:
                    start(rest)
            elif not proc.is_alive() and kind is None:  # died without reporting (a crash inside TensorRT)
                del workers[proc]
                if w["name"] is not None:
                    record({"name": w["name"], "kind": "-", "taker": None, "passed": False, "seconds": 0,
                            "error": f"the worker died (exit code {proc.exitcode}) during {w['stage']}"})
                rest = [e for e in w["left"] if e["name"] != w["name"]]
                if rest:
                    start(rest)
    results.sort(key=lambda r: r["name"])
    env = {"python": sys.version.split()[0]}
    try:
        from pykit.backends import trt

        v = int(trt.trt_module().version())
        env["tensorrt"] = f"{v // 1000}.{v % 1000 // 100}.{v % 100}"
    except ImportError as exc:
        env["tensorrt"] = f"not available ({exc})"
    try:
        import subprocess
        env["gpu"] = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version", "--format=csv,noheader"],
                                    capture_output=True, text=True).stdout.strip()
    except Exception:
        pass
    command = os.environ.get("PYKIT_CORPUS_COMMAND") or "python3 scripts/gpu-corpus.py " + " ".join(map(shlex.quote, argv or sys.argv[1:]))
    report, parser = markdown(results, command, env)
    (out / "report.md").write_text(report)
    (out / "parser.md").write_text(parser)
    (out / "results.json").write_text(json.dumps(results, indent=1, default=str) + "\n")
    passed = sum(1 for r in results if r["passed"])
    print(f"corpus: {passed}/{len(results)} PASS; {out}/report.md, parser.md, results.json")
    return 0 if passed == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
