"""The benchmark run: environment, copy bandwidth, then per case a correctness check, the
launcher's time, the PyTorch baselines' times and, where pykit._trt is built, a TensorRT engine's
GPU latency; and every spec validation case through the launcher (validate.py's comparison)."""
from __future__ import annotations

import datetime
import os
import platform
import subprocess
import sys
import traceback
from dataclasses import asdict
from pathlib import Path

from pykit import extensions
from pykit.bench import bench_module
from pykit.bench.timing import Stats, Timer, copy_bandwidth, same_bytes_copy


class BenchUnavailable(RuntimeError):
    pass


def require_torch():
    try:
        import torch
    except ImportError as exc:
        raise BenchUnavailable(f"pykit bench needs PyTorch with CUDA ({exc})") from None
    if not torch.cuda.is_available():
        raise BenchUnavailable("pykit bench needs a CUDA GPU: torch.cuda.is_available() is False")
    return torch


def require_kernels():
    try:
        return extensions.load("_kernels")
    except ImportError as exc:
        raise BenchUnavailable(
            f"pykit._kernels is not built ({exc}): build with nvcc, e.g. cmake -S . -B build/bench -G Ninja "
            "-DCMAKE_CUDA_ARCHITECTURES=90 && cmake --build build/bench, then set PYKIT_BUILD_DIR=build/bench") from None


def _git_commit() -> str:
    if os.environ.get("PYKIT_COMMIT"):  # a copy of the tree without .git (the GPU machine)
        return os.environ["PYKIT_COMMIT"]
    try:
        root = Path(__file__).resolve().parents[2]
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                             timeout=10)
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10)
        if out.returncode == 0:
            return out.stdout.strip() + (" (modified)" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        pass
    return "unknown (no git)"


def _cmake_cache(key: str) -> str | None:
    folder = extensions.build_dir()
    if folder is None or not (folder / "CMakeCache.txt").is_file():
        return None
    for line in (folder / "CMakeCache.txt").read_text(errors="replace").splitlines():
        if line.startswith(key + ":"):
            return line.split("=", 1)[1]
    return None


def environment(torch, kernels) -> dict:
    props = torch.cuda.get_device_properties(0)
    driver = "unknown"
    try:
        q = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"], capture_output=True,
                           text=True, timeout=20)
        if q.returncode == 0:
            driver = q.stdout.strip().splitlines()[0]
    except (OSError, subprocess.SubprocessError):
        pass
    rt = kernels.cuda_runtime_version()
    return {
        "gpu": props.name,
        "multiprocessors": props.multi_processor_count,
        "l2_bytes": getattr(props, "L2_cache_size", None),
        "memory_gib": round(props.total_memory / 2**30, 1),
        "driver": driver,
        "cuda_runtime (pykit._kernels)": f"{rt // 1000}.{(rt % 1000) // 10}",
        "nvcc": _cmake_cache("CMAKE_CUDA_COMPILER_VERSION") or "unknown",
        "cuda_architectures": _cmake_cache("CMAKE_CUDA_ARCHITECTURES") or "unknown",
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "python": platform.python_version(),
        "pykit_commit": _git_commit(),
        "date_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M"),
    }


def trt_latency(case, iterations: int, warmup: int) -> dict:
    """GPU latency of a one-plugin TensorRT engine (events around enqueueV3, no L2 flush), or why not."""
    try:
        from pykit import registry
        from pykit.backends.trt import TensorRTBackend, trt_module
    except ImportError as exc:  # pragma: no cover - numpy-only environments
        return {"skipped": str(exc)}
    backend = TensorRTBackend()
    reason = backend.available()
    if reason:
        return {"skipped": reason}
    call = case.trt_call()
    if call is None:
        return {"skipped": "this case has no TensorRT form"}
    inputs, attrs, in_scales, out_scales = call
    spec = registry.get(case.plugin)
    in_scales = list(in_scales) or [1.0] * len(spec.inputs)  # float precisions: no scales, one per tensor still
    out_scales = list(out_scales) or [1.0] * len(spec.outputs)
    attrs = spec.resolve_attributes(attrs)
    try:
        plan = backend.engine(spec, case.precision, inputs, attrs, in_scales, out_scales)
        engine = trt_module().Engine(plan)
        ms = engine.time(backend.feeds(spec, case.precision, inputs, in_scales), warmup, iterations)
    except Exception as exc:  # noqa: BLE001 - report, don't abort the run
        return {"skipped": f"engine failed: {exc}"}
    return asdict(Stats.of(list(ms)))


class LauncherBackend:
    """validate.py backend running a spec case through a launcher in pykit._kernels."""
    name = "cuda-launcher"

    def __init__(self, torch, launcher, stream, launch):
        self.torch, self.launcher, self.stream, self.launch = torch, launcher, stream, launch

    def available(self):
        return None

    def run(self, spec, precision, inputs, attrs, input_scales, output_scales):
        from pykit.backends import Run
        outputs = self.launch(self.torch, self.launcher, self.stream, precision, inputs, attrs, input_scales,
                              output_scales)
        return Run(outputs, precision)


def validate_launchers(torch, kernels, stream, plugins, precisions, log) -> list[dict]:
    import numpy as np

    from pykit import registry
    from pykit.validate import validate_case

    out = []
    for plugin in plugins:
        spec = registry.get(plugin)
        if plugin not in kernels.launchers:
            continue  # reported as unsupported by run()
        backend = LauncherBackend(torch, getattr(kernels, plugin), stream, bench_module(spec).launch_case)
        cases = list(registry.entry_point(spec, "cases")(np.random.default_rng(0)))
        reference = registry.entry_point(spec, "reference")
        for precision in spec.precisions:
            if precision not in precisions:
                continue
            failures = []
            for case in cases:
                r = validate_case(spec, backend, precision, case, reference)
                if not r.passed:
                    failures.append(f"{case.name}: {r.message}")
            out.append({"plugin": plugin, "precision": precision, "cases": len(cases),
                        "passed": len(cases) - len(failures), "failures": failures})
            log(f"  launcher validation {plugin} {precision}: {len(cases) - len(failures)}/{len(cases)} PASS"
                + ("" if not failures else " -- " + "; ".join(failures)))
    return out


def run(plugins: list[str], precisions: list[str], iterations: int = 100, warmup: int = 10, trt: bool = True,
        validate: bool = True, log=print) -> dict:
    torch = require_torch()
    kernels = require_kernels()
    torch.cuda.init()
    stream = torch.cuda.current_stream().cuda_stream
    env = environment(torch, kernels)
    log(f"{env['gpu']}: {env['multiprocessors']} SMs, L2 {env['l2_bytes']} B, torch {env['torch']}")
    timer = Timer(torch, env["l2_bytes"] or (50 << 20), iterations, warmup)
    copy = copy_bandwidth(torch, timer)
    log(f"device-to-device copy: {copy['gbps']:.0f} GB/s (1 GiB, read + write)")
    result = {"environment": env, "copy_bandwidth": copy,
              "settings": {"iterations": iterations, "warmup": warmup, "l2_flush_bytes": timer.flush_bytes,
                           "precisions": precisions, "plugins": plugins},
              "results": [], "unsupported": [], "launcher_validation": []}
    from pykit import registry

    available = set(kernels.launchers)
    for plugin in plugins:
        spec = registry.get(plugin)
        if plugin not in available:
            result["unsupported"].append({"plugin": plugin, "precision": "all",
                                          "reason": f"pykit._kernels has no {plugin} launcher ({spec.folder}/bench.cpp "
                                                    "not compiled: rebuild)"})
            continue
        for precision in precisions:
            if precision not in spec.precisions:
                result["unsupported"].append({"plugin": plugin, "precision": precision,
                                              "reason": f"not in the spec's precisions {list(spec.precisions)}"})
        offered = [p for p in precisions if p in spec.precisions]
        launcher = getattr(kernels, plugin)
        for case in bench_module(spec).cases(offered):
            result["results"].append(run_case(torch, launcher, stream, timer, case, copy["gbps"], trt, log))
            torch.cuda.empty_cache()
    if validate:
        result["launcher_validation"] = validate_launchers(torch, kernels, stream, plugins, precisions, log)
    return result


def run_case(torch, launcher, stream, timer, case, copy_gbps, trt, log) -> dict:
    traffic = case.traffic()
    row = {"plugin": case.plugin, "shape": case.shape, "precision": case.precision, "bytes": traffic.bytes,
           "bytes_formula": traffic.formula, "target_ms": case.target_ms, "note": case.note}
    try:
        case.setup(torch, launcher, stream)
        row["check"] = case.check()
        ours = timer.time(case.ours)
        row["ours"] = asdict(ours)
        row["baselines"] = {name: asdict(timer.time(fn)) for name, fn in case.baselines().items()}
        best = min(row["baselines"], key=lambda n: row["baselines"][n]["median_ms"])
        row["torch_best"] = best
        row["torch_ms"] = row["baselines"][best]["median_ms"]
        row["ours_ms"] = ours.median_ms
        row["speedup"] = row["torch_ms"] / ours.median_ms
        row["gbps"] = traffic.bytes / (ours.median_ms * 1e-3) / 1e9
        row["copy_fraction"] = row["gbps"] / copy_gbps
        row["torch_copy_fraction"] = traffic.bytes / (row["torch_ms"] * 1e-3) / 1e9 / copy_gbps
        row["floor_ms"] = traffic.bytes / (copy_gbps * 1e9) * 1e3
        row["copy_same"] = asdict(same_bytes_copy(torch, timer, traffic.bytes))
        row["copy_same_ms"] = row["copy_same"]["median_ms"]
        row["met"] = None if case.target_ms is None else bool(ours.median_ms <= case.target_ms)
        row["trt"] = trt_latency(case, timer.iterations, timer.warmup) if trt else {"skipped": "--no-trt"}
        log(f"  {case.key}: ours {ours.median_ms * 1e3:.1f} us, torch {row['torch_ms'] * 1e3:.1f} us "
            f"({row['speedup']:.2f}x), {row['copy_fraction'] * 100:.0f}% of copy BW, "
            f"check {'OK' if row['check']['ok'] else 'FAILED: ' + row['check']['detail']}")
    except Exception as exc:  # noqa: BLE001 - one broken case must not lose the others
        row["error"] = f"{type(exc).__name__}: {exc}"
        row["traceback"] = traceback.format_exc()
        log(f"  {case.key}: ERROR {row['error']}")
    finally:
        case.teardown()
    return row


def command_line(argv: list[str]) -> str:
    """The reproduce command: benchmarks/run_bench.sh's own line when it ran us, else ours."""
    if os.environ.get("PYKIT_BENCH_COMMAND"):
        return os.environ["PYKIT_BENCH_COMMAND"]
    build = os.environ.get("PYKIT_BUILD_DIR")
    prefix = f"PYKIT_BUILD_DIR={build} " if build else ""
    return prefix + "python -m pykit.cli " + " ".join(argv)


if __name__ == "__main__":  # pragma: no cover
    sys.exit("use: python -m pykit.cli bench")
