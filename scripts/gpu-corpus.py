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
        nan = np.isnan(s)  # NaN where the stored output has NaN, and only there; the rest compared
        err = float(np.max(np.abs(y - s)[~nan], initial=0.0))
        allowed = rtol * float(np.max(np.abs(s[~nan]), initial=0.0)) + atol
        worst[name] = {"max_abs_err": err, "allowed": allowed,
                       "passed": bool(err <= allowed and np.array_equal(np.isnan(y), nan))}
        ok &= worst[name]["passed"]
    return {"passed": ok, "outputs": worst}


def native(entry, original, feeds, expected, parse_ok: bool) -> dict:
    """The original as TensorRT imports it, per precision: stored-output check and latency."""
    from pykit.backends import trt
    from pykit.validate_model import ATOL, RTOL, engine_feeds

    if not parse_ok:
        return {"skipped": "TensorRT's parser refuses the original"}
    _trt = trt.trt_module()
    builder = trt.builder()
    # as exported, also above the parser's opset 17 / IR 8: the parser took it whole (with a warning),
    # so the engine is built and its outputs say whether 8.5 imported those newer ops correctly
    blob = original.SerializeToString()
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


PATCH_STAGE, PARSE_STAGE = "patch + validate_model", "parse"  # what lost() reads a stage by
STAGE = [lambda stage: None]  # set by worker(): tells the parent what a model is doing (for hangs)


def run_one(entry: dict, partial=lambda res: None) -> dict:
    """One model. The patched engines come first and every stage's result is handed to `partial`:
    TensorRT 8.5's parser crashes (SIGSEGV) on some originals (the 5-D GridSample node tests), and
    the parent then still reports what the patched model did."""
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
        force = forced_ops(entry)
        res["forced"] = force
        if entry.get("taker"):
            STAGE[0](PATCH_STAGE + " (patched engines)")
            result = patch_model(original, trt="8.5", force=force)
            res["patch"] = {"exit_code": result.exit_code, "rewrites": [str(c) for c in result.rewrites],
                            "unpatched": list(result.unpatched)}
            with tempfile.TemporaryDirectory() as tmp:
                patched_path, original_path = Path(tmp) / "patched.onnx", Path(tmp) / "original.onnx"
                onnx.save(result.model, str(patched_path))
                onnx.save(original, str(original_path))
                from pykit.validate_model import validate_model

                report = validate_model(patched_path, original_path, ("fp32", "fp16", "int8"),
                                        feeds=[feeds], expected=[expected],
                                        log=lambda msg: STAGE[0](f"{PATCH_STAGE} (patched engines; last: {str(msg)[:120]})"))
            res["patched"] = report
            res["passed"] = bool(report.get("passed")) and result.exit_code == 0
            partial(res)
        STAGE[0](PARSE_STAGE + " (TensorRT's ONNX parser, whole model and node by node)")
        online = parse_online(original, "8.5")
        res["parser"] = {"whole_ok": online.whole_ok, "errors": online.whole_errors,
                         "refused": [v.line() for v in online.nodes if not v.parser_ok],
                         "disagreements": [v.line() for v in online.disagreements], "not_parsed": online.not_parsed}
        partial(res)
        STAGE[0]("native engines of the original")
        res["native"] = native(entry, original, feeds, expected, online.whole_ok)
        if not entry.get("taker") and "skipped" in res["native"]:
            # no plugin meant for it: what `patch --trt 8.5` makes of it (opset/IR conversion) natively
            from pykit.backends import trt
            from pykit.surgeon.parse_online import _outcome

            converted = patch_model(original, trt="8.5").model
            parsed, errors = _outcome(trt.parse_onnx(converted))
            res["native_after_patch"] = native(entry, converted, feeds, expected, parsed) if parsed else {
                "skipped": "the parser refuses it after patch --trt 8.5: " + "; ".join(errors)}
        if not entry.get("taker"):
            nat = res.get("native_after_patch", res["native"])
            res["passed"] = all(v.get("passed") for v in nat.values()) if "skipped" not in nat else False
    except Exception as exc:
        res["error"] = f"{type(exc).__name__}: {exc}"
        res["traceback"] = traceback.format_exc()[-3000:]
        res["passed"] = False
    res["seconds"] = round(time.time() - t0, 1)
    return res


def worker(conn, gpu):
    """Runs the models the parent sends over `conn` (its own pipe: a worker that crashes inside
    TensorRT breaks only that pipe, where a shared queue's lock would hang every other worker, as
    seen on the H200) until it sends None; reports start, stage, partial and result messages."""
    if gpu is not None:  # before anything loads CUDA: this process sees one GPU
        os.environ["CUDA_VISIBLE_DEVICES"] = str(gpu)
    current = [None]
    STAGE[0] = lambda what: conn.send(("stage", current[0], what))
    for entry in iter(conn.recv, None):
        current[0] = entry["name"]
        conn.send(("start", entry["name"], time.time()))
        res = run_one(entry, partial=lambda r: conn.send(("partial", r["name"], json.loads(json.dumps(r, default=str)))))
        conn.send(("result", entry["name"], json.loads(json.dumps(res, default=str))))


def reason(r: dict) -> str:
    """The first thing that failed, in one line (for the log)."""
    if "error" in r:
        return r["error"][:300]
    for e in r.get("patched", {}).get("engines", []):
        if not e["passed"]:
            return f"{e['variant']}: " + (e.get("message") or "outputs off")[:300]
    if r.get("patch", {}).get("exit_code"):
        return f"patch exit {r['patch']['exit_code']}, unpatched {r['patch']['unpatched']}"
    nat = r.get("native_after_patch", r.get("native", {}))
    if "skipped" in nat:
        return nat["skipped"][:300]
    return "; ".join(f"native {p}: " + (v.get("error") or "outputs off")[:200] for p, v in nat.items() if not v.get("passed"))


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


def markdown(results: list[dict], command: str, env: dict, missing: list[str]) -> tuple[str, str]:
    passed = sum(1 for r in results if r["passed"])
    md = ["# The corpus in TensorRT engines", "",
          f"Command: `{command}`", "", f"Environment: {json.dumps(env)}", "",
          f"**{passed}/{len(results)} models PASS**" + (f" ({len(missing)} of the corpus not run: {', '.join(missing)})" if missing else "")
          + ". Original: native import at fp32/fp16 where TensorRT's parser "
          "takes it, against the stored outputs, and its latency. Patched: `patch --trt 8.5` (forced rules listed) "
          "then pykit.validate_model at fp32, fp16, int8 (mixed where a plugin has no int8) on the stored inputs; "
          "what each plugin ran in is read back from the engine.", "",
          "| model | taker | parser | native (stored outputs, GPU ms) | patched engines (plugins ran, GPU ms) | verdict |",
          "| --- | --- | --- | --- | --- | --- |"]
    for r in results:
        parser = r.get("parser", {})
        p = "parses" if parser.get("whole_ok") else ("refuses: " + "; ".join(parser.get("errors", []))[:160])
        verdict = ("PASS" + (f" (the original's {r['lost']})" if r.get("lost") else "")) if r["passed"] else \
            ("ERROR: " + r["error"][:200] if "error" in r else "FAIL: " + reason(r)[:200])
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
                 "TensorRT; a disagreement is a node the table says the parser refuses and it imports, or the reverse "
                 "(a node refused downstream of one the table flags is explained by it; the table's 'above-opset' and "
                 "'wrong-or-rejected' predict neither way). With --report-only the recorded verdicts are judged "
                 "against the current table.", ""]
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


def rejudge(results: list[dict]) -> None:
    """A recorded run judged again by this code, never more leniently than it was: each parser verdict
    against the current offline table (pykit.surgeon.parse_online.from_record), and each patched
    engine's outputs against pykit.validate_model's rules for what is no check at all
    (no_check_reason: a bound of at least VACUOUS x max|reference|, unless the error -- element-wise
    against the nearer of the reference and the emulation, where the record has it -- met the a-priori
    bound; an output mostly undefined in the original, unless the record says its write orders were
    checked)."""
    import onnx

    from pykit.surgeon.equiv import load_stored
    from pykit.surgeon.parse_online import from_record
    from pykit.validate_model import no_check_reason

    by_name = {e["name"]: e for e in entries(None)}
    for r in results:
        entry = by_name.get(r["name"])
        if entry is None:
            continue
        model = onnx.load(str(folder_of(entry) / "model.onnx"))
        if r.get("parser"):
            r["parser"]["disagreements"] = [v.line() for v in from_record(model, r["parser"], "8.5").disagreements]
            r["parser"]["judged_by"] = "the current offline table (--report-only)"
        engines = r.get("patched", {}).get("engines", [])
        if not engines:
            continue
        _, expected = load_stored(model, folder_of(entry) / entry["data"])
        sizes = {k: int(v.size) for k, v in expected.items()}
        rtol = r["patched"].get("rtol", {})
        for e in engines:
            notes = []
            for o in e.get("outputs", []) + e.get("stored", []):
                err = o.get("max_abs_err") if o.get("nearer_err") is None else o["nearer_err"]
                note = no_check_reason(sizes.get(o["output"], 0), o.get("undefined", 0), o.get("orders_checked", False),
                                       o.get("allowed", 0), o.get("max_ref", 0), err, rtol.get(e.get("precision")))
                if note and o.get("passed"):
                    o.update(passed=False, note=note)
                    notes.append(f"output '{o['output']}': {note}")
            if notes and e.get("passed"):
                e["passed"] = False
                e["message"] = "; ".join(dict.fromkeys(notes)) + " (re-judged with --report-only)"
        if r.get("passed") and any(not e["passed"] for e in engines if not e["variant"].startswith("native")):
            r["passed"] = False
            r["rejudged"] = "a patched engine's check was no check at all (see its message)"


def gpu_count() -> int:
    import subprocess

    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30).stdout
        return max(1, sum(1 for line in out.splitlines() if line.startswith("GPU ")))
    except Exception:  # noqa: BLE001 - no nvidia-smi: one device, as CUDA sees it
        return 1


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", nargs="?", default="docs/validation/corpus")
    ap.add_argument("--jobs", type=int, default=min(8, os.cpu_count() or 1))
    ap.add_argument("--gpus", type=int, default=None, help="GPUs to spread the workers over (default: all nvidia-smi lists)")
    ap.add_argument("--only", help="regex over model names")
    ap.add_argument("--resume", action="store_true",
                    help="keep the models OUT/results.jsonl already holds and run only the others")
    ap.add_argument("--model-timeout", type=int, default=240,
                    help="seconds one model may take before its worker is replaced and the model recorded as hung")
    ap.add_argument("--stop-after", type=int, default=None,
                    help="seconds: then stop the workers (models in flight are left for --resume) and write the report")
    ap.add_argument("--retry-lost", action="store_true",
                    help="with --resume: run again the models recorded as lost (timed out or crashed), e.g. with a longer --model-timeout")
    ap.add_argument("--again", action="store_true",
                    help="with --resume: run the models --only selects again even where recorded (their records replaced)")
    ap.add_argument("--report-only", action="store_true",
                    help="write report.md/parser.md from OUT/results.jsonl without running anything (the parser verdicts judged against the current table)")
    args = ap.parse_args(argv)
    if args.report_only and (args.retry_lost or args.again):
        ap.error("--retry-lost/--again run models; --report-only runs none")
    if args.again and not args.only:
        ap.error("--again needs --only (which recorded models to run again)")
    if args.report_only or args.retry_lost or args.again:
        args.resume = True
    stop_at = time.time() + args.stop_after if args.stop_after else None
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    jsonl = out / "results.jsonl"  # one line per model as it ends: a run cut short keeps what it did
    done = {}
    if args.resume and jsonl.exists():
        for line in jsonl.read_text().splitlines():
            if line.strip():
                r = json.loads(line)
                done[r["name"]] = r
    elif jsonl.exists():
        jsonl.unlink()
    selected = entries(args.only)
    previous = {}  # records run again: kept (in results.jsonl too) until a new result replaces them
    if (args.retry_lost or args.again) and done:
        chosen = {e["name"] for e in selected}
        # lost and not passed: a model whose patched engines all passed before TensorRT's parser crashed
        # on its original (8.5 segfaults on 5-D GridSample, every time) has nothing left to gain
        again = {n for n, r in done.items() if (args.again or (r.get("lost") and not r.get("passed"))) and n in chosen}
        previous = {n: done.pop(n) for n in again}
        print(f"corpus: running {len(again)} recorded model(s) again", flush=True)
    for r in done.values():  # a model recorded as lost before its first result: its labels from the index
        e = next((e for e in selected if e["name"] == r["name"]), None)
        if e is not None and r.get("kind") in (None, "-"):
            r.update(kind=e["kind"], taker=e.get("taker"))
    todo = [] if args.report_only else [e for e in selected if e["name"] not in done]
    if args.report_only:
        rejudge(list(done.values()))
    gpus = args.gpus or gpu_count()
    from multiprocessing.connection import wait

    ctx = mp.get_context("spawn")
    pending = list(todo)
    workers = {}  # parent's pipe end -> {"proc", "name", "since", "stage", "partial", "gpu"}

    def hand_out(conn):
        """The next model to this worker, or None (it exits) when none is left."""
        w = workers[conn]
        entry = pending.pop(0) if pending else None
        try:
            conn.send(entry)
        except OSError:
            entry = None
        if entry is None:
            w["proc"].join(timeout=1)  # it exits on the None; a straggler is left to the OS
            del workers[conn]
        else:
            w.update(name=entry["name"], entry=entry, since=time.time(), stage="starting", partial=None)

    def start(gpu):
        if not pending:
            return
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=worker, args=(child, gpu if gpus > 1 else None))
        proc.start()
        child.close()
        workers[parent] = {"proc": proc, "name": None, "since": time.time(), "stage": "starting", "partial": None,
                           "gpu": gpu}
        hand_out(parent)

    for k in range(min(args.jobs, len(todo))):
        start(k % gpus)
    results = list(done.values())
    print(f"corpus: {len(todo)} model(s) to run on {gpus} GPU(s) with {args.jobs} workers; {len(done)} kept from {jsonl}",
          flush=True)

    def record(r):
        results.append(r)
        with jsonl.open("a") as f:
            f.write(json.dumps(r, default=str) + "\n")
        print(f"[{len(results)}/{len(done) + len(todo)}] {'PASS' if r['passed'] else 'FAIL'} {r['name']} ({r['seconds']} s)"
              + ("" if r["passed"] else f" {reason(r)}"), flush=True)

    def lost(w, why, seconds):
        """A worker that hung or died: what its model had reported so far, with why the rest is missing."""
        entry = w.get("entry") or {}
        r = dict(w["partial"] or {"name": w["name"], "kind": entry.get("kind", "-"), "taker": entry.get("taker"),
                                  "passed": False})
        if r.get("parser") is None and w["stage"].startswith(PARSE_STAGE):
            r["parser"] = {"whole_ok": False, "errors": [f"TensorRT's parser {why}"], "refused": [], "disagreements": [],
                           "not_parsed": []}
        if w["stage"].startswith(PATCH_STAGE) or not r.get("taker"):
            r["passed"] = False
        r.update(seconds=seconds, lost=f"{why} during {w['stage']}")
        if not r["passed"]:
            r["error"] = f"{why} during {w['stage']}"
        record(r)

    while workers:
        if stop_at and time.time() > stop_at:
            for w in workers.values():
                w["proc"].kill()
                w["proc"].join()
            print(f"corpus: stopped after {args.stop_after} s; {len(todo) + len(done) - len(results)} model(s) left for --resume",
                  flush=True)
            break
        for conn in wait(list(workers), timeout=5):
            w = workers[conn]
            try:
                kind, name, value = conn.recv()
            except (EOFError, OSError):  # died without reporting (a crash inside TensorRT)
                w["proc"].join(timeout=10)
                del workers[conn]
                if w["name"] is not None:
                    lost(w, f"crashed (worker exit code {w['proc'].exitcode})", round(time.time() - w["since"], 1))
                start(w["gpu"])
                continue
            if kind == "stage":
                w["stage"] = value
            elif kind == "partial":
                w["partial"] = value
            elif kind == "result":
                w["name"] = None
                record(value)
                hand_out(conn)
        for conn, w in list(workers.items()):
            if w["name"] is not None and time.time() - w["since"] > args.model_timeout and not conn.poll():
                # a hang inside TensorRT cannot be interrupted from Python: the worker is replaced
                w["proc"].kill()
                w["proc"].join()
                del workers[conn]
                lost(w, f"no answer in {args.model_timeout} s", args.model_timeout)
                start(w["gpu"])
    ran = {r["name"] for r in results}
    results += [r for n, r in previous.items() if n not in ran]  # not reached (stopped): the old record stands
    missing = [e["name"] for e in entries(None) if e["name"] not in {r["name"] for r in results}]
    results.sort(key=lambda r: r["name"])
    if not args.report_only:  # one line per model (a model run again appended its new line)
        jsonl.write_text("".join(json.dumps(r, default=str) + "\n" for r in results))
    if args.report_only and (out / "environment.json").exists():  # the run's, not this machine's
        env = json.loads((out / "environment.json").read_text())
    else:
        env = run_environment()
        (out / "environment.json").write_text(json.dumps(env) + "\n")
    command = os.environ.get("PYKIT_CORPUS_COMMAND") or "python3 scripts/gpu-corpus.py " + " ".join(map(shlex.quote, argv or sys.argv[1:]))
    if args.report_only and (out / "command.txt").exists():
        command = (out / "command.txt").read_text().strip()
    else:
        (out / "command.txt").write_text(command + "\n")
    report, parser = markdown(results, command, env, missing)
    (out / "report.md").write_text(report)
    (out / "parser.md").write_text(parser)
    passed = sum(1 for r in results if r["passed"])
    print(f"corpus: {passed}/{len(results)} PASS; {out}/report.md, parser.md ({jsonl.name}: one line per model)")
    return 0 if passed == len(results) else 1


def run_environment() -> dict:
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
    return env


if __name__ == "__main__":
    sys.exit(main())
