"""How TriageAttention measures: GPU timing with a cold L2 cache, and useful work.

Timing: cold L2 before every run, CUDA events around the measured work only, warm-up, the median
of many runs and the spread (p90 - p10) / median. Useful work: the unmasked (query, key) pairs
attention visits. The demo and every benchmark use these; the module needs torch but nothing
from the compiled core, so the benchmarks load it by path even where the package is not
importable.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
import time
from typing import Callable, List, Optional

import torch

# The head start never exceeds this: a slow warm-up (compilation, autotuning) must not turn into
# seconds of idle GPU.
_MAX_HEAD_START_MS = 200.0
# Margin over the measured host enqueue time, so the GPU is still spinning when the host is done.
_HEAD_START_MARGIN = 1.5


@dataclasses.dataclass
class Timing:
    runs: int = 0  # 0: not measured
    median_ms: float = math.nan
    min_ms: float = math.nan
    max_ms: float = math.nan
    p10_ms: float = math.nan
    p90_ms: float = math.nan
    spread: float = math.nan  # (p90 - p10) / median


def _percentile(sorted_ms: List[float], q: float) -> float:
    # Linear interpolation between order statistics, as numpy's default and the C++ harness.
    pos = q * (len(sorted_ms) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_ms) - 1)
    return sorted_ms[lo] + (sorted_ms[hi] - sorted_ms[lo]) * (pos - lo)


def summarize(samples_ms: List[float]) -> Timing:
    if not samples_ms:
        return Timing()
    s = sorted(samples_ms)
    median = _percentile(s, 0.5)
    p10, p90 = _percentile(s, 0.1), _percentile(s, 0.9)
    return Timing(runs=len(s), median_ms=median, min_ms=s[0], max_ms=s[-1], p10_ms=p10,
                  p90_ms=p90, spread=(p90 - p10) / median if median > 0 else 0.0)


# How the L2 is emptied before each run. "read" reads a buffer twice the L2 size: every line
# cached before is evicted (dirty ones written back during the flush) and the L2 is left holding
# clean lines. "write" zeroes that buffer instead, the method before session 24: it leaves up to
# an L2 of dirty lines whose write-back then falls inside the timed run and is charged to it
# (about 50 MB on an H100, 15 us of DRAM time).
L2_FLUSHES = ("read", "write")


class Timer:
    """Times GPU work on the current stream of `device` with a cold L2 cache.

    Per timed run the stream sees: [L2 flush] [start event] [work] [stop event]. The flush reads
    (or zeroes, l2_flush="write") a buffer twice the L2 size (read from the device properties),
    outside the events. Before the timed runs, torch.cuda._sleep holds the GPU for about as long
    as the host needs to enqueue them, so host launch latency never falls between a start and a
    stop event.
    """

    def __init__(self, device: Optional[torch.device] = None, l2_flush: str = "read"):
        if l2_flush not in L2_FLUSHES:
            raise ValueError(f"Timer: l2_flush must be one of {L2_FLUSHES}, got {l2_flush!r}")
        self.device = torch.device("cuda") if device is None else torch.device(device)
        props = torch.cuda.get_device_properties(self.device)
        self.l2_bytes = int(props.L2_cache_size)
        self.l2_flush = l2_flush
        self._flush = torch.zeros(max(2 * self.l2_bytes, 1 << 20) // 8, dtype=torch.int64,
                                  device=self.device)
        self._sleep_cycles_per_ms: Optional[float] = None

    def flush_l2(self) -> None:
        if self.l2_flush == "read":
            self._flush.max()  # a reduction: the whole buffer read once, one word written
        else:
            self._flush.zero_()

    def describe_flush(self) -> str:
        verb = "reading" if self.l2_flush == "read" else "zeroing"
        return f"L2 flushed by {verb} {self._flush.numel() * 8 >> 20} MiB before every run"

    def _head_start(self, ms: float) -> None:
        if not hasattr(torch.cuda, "_sleep"):  # private API: without it, no head start
            return
        if self._sleep_cycles_per_ms is None:
            # _sleep counts SM clock cycles: calibrate once against CUDA events.
            cycles = 10_000_000
            start = torch.cuda.Event(enable_timing=True)
            stop = torch.cuda.Event(enable_timing=True)
            start.record()
            torch.cuda._sleep(cycles)
            stop.record()
            stop.synchronize()
            self._sleep_cycles_per_ms = cycles / max(start.elapsed_time(stop), 1e-3)
        torch.cuda._sleep(int(min(ms, _MAX_HEAD_START_MS) * self._sleep_cycles_per_ms))

    def measure(self, work: Callable[[int], object], *, warmup: int = 5, runs: int = 50,
                cold_l2: bool = True) -> Timing:
        """Calls work(run) warmup + runs times on the current stream; `run` counts from 0, so a
        caller holding several input sets can rotate through them with run % sets."""
        if runs < 1 or warmup < 0:
            raise ValueError("Timer.measure: need runs >= 1 and warmup >= 0")
        with torch.cuda.device(self.device):
            enqueue_ms = []
            for i in range(warmup):
                t0 = time.perf_counter()
                if cold_l2:
                    self.flush_l2()
                work(i)
                enqueue_ms.append((time.perf_counter() - t0) * 1e3)
            torch.cuda.synchronize()

            starts = [torch.cuda.Event(enable_timing=True) for _ in range(runs)]
            stops = [torch.cuda.Event(enable_timing=True) for _ in range(runs)]
            if enqueue_ms:
                # The median ignores the first run's one-off compilation or autotuning.
                self._head_start(statistics.median(enqueue_ms) * runs * _HEAD_START_MARGIN)
            for i in range(runs):
                if cold_l2:
                    self.flush_l2()
                starts[i].record()
                work(warmup + i)
                stops[i].record()
            stops[-1].synchronize()
            return summarize([s.elapsed_time(e) for s, e in zip(starts, stops)])


def capture_graph(step: Callable[[], object]):
    """(graph, step's outputs inside the graph): step runs once on a side stream first (warm-up
    outside the capture, as torch recommends), then is captured on the current device."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        step()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        captured = step()
    return graph, captured


def useful_pairs(seqlen_q, seqlen_k, block_size, q_block_size=128, causal=False, pattern=None,
                 batch=1, heads_q=1):
    """Unmasked (query, key) pairs attention visits, summed over batch and query heads: the
    useful work (4 * D FLOPs each) benchmarks divide by. pattern=None counts every key block
    (dense); a (kv_indices, kv_counts) pair (distinct, in-range indices) counts its blocks, with
    batch and pattern heads taken from its shape (heads_q query heads share Hs pattern heads).
    Short last blocks and, when causal, the bottom-right aligned diagonal are counted exactly."""
    device = "cpu" if pattern is None else pattern[0].device
    nq, nk = -(-seqlen_q // q_block_size), -(-seqlen_k // block_size)
    first = torch.arange(nk, device=device) * block_size
    end = (first + block_size).clamp(max=seqlen_k)
    per_query = torch.zeros((nq * q_block_size, nk), dtype=torch.int64, device=device)
    if causal:
        last = torch.arange(seqlen_q, device=device)[:, None] + (seqlen_k - seqlen_q)
        per_query[:seqlen_q] = (torch.minimum(end[None], last + 1) - first[None]).clamp(min=0)
    else:
        per_query[:seqlen_q] = end - first
    table = per_query.view(nq, q_block_size, nk).sum(1)  # [nq, nk]
    if pattern is None:
        return int(table.sum()) * batch * heads_q
    kv_indices, kv_counts = pattern
    counted = torch.arange(kv_indices.shape[3], device=device) < kv_counts[..., None]
    rows = torch.arange(nq, device=device)[:, None]
    pairs = table[rows, kv_indices.long().clamp(0, nk - 1)] * counted
    return int(pairs.sum()) * (heads_q // kv_indices.shape[1])
