"""Timing with CUDA events: warm-up, then every timed run preceded by an L2 flush (a read of a
buffer several times the L2 size, outside the events, so that neither inputs nor dirty outputs of
the previous run sit in the cache), median and percentiles of the per-run times."""
from __future__ import annotations

import statistics
from dataclasses import dataclass


@dataclass
class Stats:
    median_ms: float
    p10_ms: float
    p90_ms: float
    min_ms: float
    runs: int

    @classmethod
    def of(cls, samples_ms: list[float]) -> "Stats":
        s = sorted(samples_ms)
        if not s:
            raise ValueError("no samples")
        return cls(statistics.median(s), percentile(s, 10), percentile(s, 90), s[0], len(s))


def percentile(sorted_values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default), on sorted values."""
    if len(sorted_values) == 1:
        return sorted_values[0]
    pos = (len(sorted_values) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


class Timer:
    def __init__(self, torch, l2_bytes: int, iterations: int = 100, warmup: int = 10):
        self.torch = torch
        self.iterations = iterations
        self.warmup = warmup
        # Read (not write) to flush: a write would leave dirty lines whose write-back lands in the
        # next timed region.
        self.flush_bytes = max(4 * l2_bytes, 256 << 20)
        self._flush = torch.ones(self.flush_bytes // 4, dtype=torch.float32, device="cuda")
        self._sink = torch.empty((), dtype=torch.float32, device="cuda")

    def flush_l2(self) -> None:
        self.torch.sum(self._flush, dim=0, out=self._sink)

    def time(self, fn, flush: bool = True) -> Stats:
        torch = self.torch
        for _ in range(self.warmup):
            fn()
        torch.cuda.synchronize()
        starts = [torch.cuda.Event(enable_timing=True) for _ in range(self.iterations)]
        stops = [torch.cuda.Event(enable_timing=True) for _ in range(self.iterations)]
        for start, stop in zip(starts, stops):
            if flush:
                self.flush_l2()
            start.record()
            fn()
            stop.record()
        torch.cuda.synchronize()
        return Stats.of([a.elapsed_time(b) for a, b in zip(starts, stops)])


def copy_bandwidth(torch, timer: Timer, nbytes: int = 1 << 30) -> dict:
    """Device-to-device copy (cudaMemcpyAsync through tensor.copy_) of nbytes: bytes read plus
    bytes written over the median time, in GB/s (1e9 B/s)."""
    src = torch.empty(nbytes, dtype=torch.uint8, device="cuda").random_(0, 255)
    dst = torch.empty_like(src)
    stats = timer.time(lambda: dst.copy_(src), flush=False)
    del src, dst
    return {"bytes": 2 * nbytes, "median_ms": stats.median_ms, "p10_ms": stats.p10_ms, "p90_ms": stats.p90_ms,
            "gbps": 2 * nbytes / (stats.median_ms * 1e-3) / 1e9}


def same_bytes_copy(torch, timer: Timer, nbytes: int) -> Stats:
    """A device copy moving a case's bytes (half read, half written), timed and L2-flushed like the
    case: what the copy engine path achieves at that size, launch and ramp included. At small
    sizes this, not bytes / copy bandwidth, is the floor a kernel can be held to."""
    half = max(int(nbytes) // 2, 1)
    src = torch.empty(half, dtype=torch.uint8, device="cuda")
    dst = torch.empty_like(src)
    try:
        return timer.time(lambda: dst.copy_(src))
    finally:
        del src, dst
