"""GPU timing, output hashing and reporting shared by the Python benchmark suites.

The method and the JSON schema are those of the C++ harness (benchmarks/harness/): cold L2 before
every run, CUDA events around the measured work only, warm-up, the median of many runs and the
spread (p90 - p10) / median. Later suites (prefill, triage, decode) import this module.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import statistics
import sys
import time
from typing import Callable, Dict, List, Optional, Tuple

import torch

# The head start never exceeds this: a slow warm-up (compilation, autotuning) must not turn into
# seconds of idle GPU.
_MAX_HEAD_START_MS = 200.0
# Margin over the measured host enqueue time, so the GPU is still spinning when the host is done.
_HEAD_START_MARGIN = 1.5
# Digits of the sha256 shown in the table; the JSON holds all 64.
_SHORT_HASH = 16


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


class Timer:
    """Times GPU work on the current stream of `device` with a cold L2 cache.

    Per timed run the stream sees: [L2 flush] [start event] [work] [stop event]. The flush zeroes
    a buffer twice the L2 size (read from the device properties), outside the events. Before the
    timed runs, torch.cuda._sleep holds the GPU for about as long as the host needs to enqueue
    them, so host launch latency never falls between a start and a stop event.
    """

    def __init__(self, device: Optional[torch.device] = None):
        self.device = torch.device("cuda") if device is None else torch.device(device)
        props = torch.cuda.get_device_properties(self.device)
        self.l2_bytes = int(props.L2_cache_size)
        self._flush = torch.empty(max(2 * self.l2_bytes, 1 << 20), dtype=torch.uint8,
                                  device=self.device)
        self._sleep_cycles_per_ms: Optional[float] = None

    def flush_l2(self) -> None:
        self._flush.zero_()

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


def sha256_tensor(t: torch.Tensor) -> str:
    """SHA-256 of the tensor's bytes in row-major order (the C++ harness hashes the same bytes)."""
    data = t.detach().contiguous().reshape(-1).view(torch.uint8).cpu().numpy()
    return hashlib.sha256(memoryview(data)).hexdigest()


def device_description(device: Optional[torch.device] = None) -> str:
    p = torch.cuda.get_device_properties(device)
    return (f"{p.name} (sm_{p.major}{p.minor}, {p.multi_processor_count} SMs, "
            f"L2 {p.L2_cache_size >> 20} MiB, {p.total_memory >> 30} GiB)")


@dataclasses.dataclass
class Row:
    suite: str
    case: str
    impl: str
    timing: Timing = dataclasses.field(default_factory=Timing)
    metrics: Dict[str, float] = dataclasses.field(default_factory=dict)  # header -> value
    sha256: str = ""
    notes: str = ""


def _format_number(v: float) -> str:
    # Four significant digits without an exponent, as the C++ report.
    if v is None or not math.isfinite(v):
        return "-"
    if v == 0:
        return "0"
    decimals = min(max(3 - math.floor(math.log10(abs(v))), 0), 6)
    return f"{v:.{decimals}f}"


def _markdown_cell(s: str) -> str:
    return s.replace("|", "\\|").replace("\n", " ").replace("\r", " ")


def _json_number(v: float) -> Optional[float]:
    return v if v is not None and math.isfinite(v) else None  # JSON has no NaN


class Report:
    """Rows of (suite, case, impl) results, printed as markdown and written as JSON."""

    def __init__(self) -> None:
        self.meta: Dict[str, str] = {}
        self.rows: List[Row] = []

    def add(self, row: Row) -> None:
        self.rows.append(row)

    def markdown(self) -> str:
        lines = [f"- {k}: {v}" for k, v in self.meta.items()]
        suites = list(dict.fromkeys(r.suite for r in self.rows))
        for suite in suites:
            rows = [r for r in self.rows if r.suite == suite]
            metric_names = list(dict.fromkeys(name for r in rows for name in r.metrics))
            header = ["case", "impl", "median ms", "min ms", "spread", *metric_names, "sha256",
                      "notes"]
            align = ["---", "---", "---:", "---:", "---:", *["---:"] * len(metric_names), "---",
                     "---"]
            lines += ["", f"### {suite}", "", "| " + " | ".join(header) + " |",
                      "|" + "|".join(align) + "|"]
            for r in rows:
                timed = r.timing.runs > 0
                cells = [_markdown_cell(r.case), _markdown_cell(r.impl),
                         _format_number(r.timing.median_ms) if timed else "-",
                         _format_number(r.timing.min_ms) if timed else "-",
                         f"{100 * r.timing.spread:.1f}%" if timed else "-"]
                cells += [_format_number(r.metrics[n]) if n in r.metrics else ""
                          for n in metric_names]
                cells += [r.sha256[:_SHORT_HASH], _markdown_cell(r.notes)]
                lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines) + "\n"

    def write_json(self, path: str) -> None:
        rows = []
        for r in self.rows:
            timed = r.timing.runs > 0
            t = r.timing
            rows.append({
                "suite": r.suite, "case": r.case, "impl": r.impl, "runs": t.runs,
                **{k: _json_number(getattr(t, k)) if timed else None
                   for k in ("median_ms", "min_ms", "max_ms", "p10_ms", "p90_ms", "spread")},
                "metrics": {k: _json_number(v) for k, v in r.metrics.items()},
                "sha256": r.sha256, "notes": r.notes,
            })
        with open(path, "w") as f:
            json.dump({"meta": self.meta, "rows": rows}, f, indent=2)
            f.write("\n")


def tflops(flops: float, ms: float) -> float:
    return flops / ms / 1e9


def gbytes_per_s(nbytes: float, ms: float) -> float:
    return nbytes / ms / 1e6


def max_relative_error(out: torch.Tensor, ref: torch.Tensor) -> Tuple[float, Tuple[int, ...]]:
    """max |out - ref| / max |ref|, and the index of the worst element (NaN in out counts as
    the worst, with error NaN) so that a failure can be located."""
    out = out.float()
    ref = ref.float()
    bad = ~torch.isfinite(out)
    if bool(bad.any()):
        idx = torch.nonzero(bad)[0]
        return math.nan, tuple(int(i) for i in idx)
    diff = (out - ref).abs()
    flat = int(diff.argmax())
    idx = tuple(int(i) for i in torch.unravel_index(torch.tensor(flat), diff.shape))
    return float(diff.max()) / max(float(ref.abs().max()), 1e-30), idx


def warn_if_not_hopper(device: torch.device) -> None:
    p = torch.cuda.get_device_properties(device)
    if p.major != 9:
        print(f"warning: {p.name} is sm_{p.major}{p.minor}; TriageAttention's kernels need "
              "sm_90a (H100)", file=sys.stderr)


def finish_suite(report: "Report", failed: bool, cases: Callable[[], None],
                 json_path: Optional[str]) -> int:
    """Runs `cases`, prints the table (also what was measured before an exception), writes the
    JSON, and returns the exit status: 1 on an exception or a failed check, else 0."""
    status = 0
    try:
        cases()
    except Exception as e:
        print(report.markdown())
        print(f"\nerror: {type(e).__name__}: {e}", file=sys.stderr)
        status = 1
    if status == 0:
        print(report.markdown())
    if json_path:
        report.write_json(json_path)
        print(f"wrote {json_path}", file=sys.stderr)
    if failed():
        print("\nFAILED: a wrong result, an error in ours or a determinism MISMATCH (see above and"
              " the notes column)", file=sys.stderr)
        status = 1
    return status


def describe_run(report: "Report", argv: List[str], device: torch.device, package,
                 import_error: Optional[str]) -> None:
    """The header lines every suite's report starts with: command, device, versions."""
    m = report.meta
    m["command"] = " ".join([os.path.basename(sys.executable), *argv])
    m["device"] = device_description(device)
    m["torch / CUDA"] = f"{torch.__version__} / {torch.version.cuda}"
    m["triageattention"] = (getattr(package, "__version__", "imported") if package
                            else f"not importable ({import_error})")

