"""GPU timing, output hashing and reporting shared by the Python benchmark suites.

The method and the JSON schema are those of the C++ harness (benchmarks/harness/): cold L2 before
every run, CUDA events around the measured work only, warm-up, the median of many runs and the
spread (p90 - p10) / median. Later suites (prefill, triage, decode) import this module.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import importlib.util
import json
import math
import os
import sys
from typing import Callable, Dict, List, Optional, Tuple

import torch

# The timing method and the useful-work count live in the package (the demo uses them too); the
# module is loaded by path so that the peers still run where the package is not importable.
_MEASURE_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "python",
                             "triageattention", "measure.py")
_spec = importlib.util.spec_from_file_location("triageattention_measure", _MEASURE_PATH)
_measure = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = _measure  # dataclasses look their module up by name
_spec.loader.exec_module(_measure)
Timer, Timing, summarize = _measure.Timer, _measure.Timing, _measure.summarize
useful_pairs, capture_graph = _measure.useful_pairs, _measure.capture_graph
# Digits of the sha256 shown in the table; the JSON holds all 64.
_SHORT_HASH = 16


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


def short_error(e: BaseException, limit: int = 300) -> str:
    """An exception as one line of at most `limit` characters, for a table's notes."""
    text = " ".join(f"{type(e).__name__}: {e}".split())
    return text if len(text) <= limit else text[:limit] + " ..."


def add_run_args(ap: argparse.ArgumentParser) -> None:
    """The options every suite takes: --runs, --warmup (defaults set by the suite), --seed,
    --json, --l2-flush."""
    ap.add_argument("--runs", type=int)
    ap.add_argument("--warmup", type=int)
    ap.add_argument("--seed", type=int, default=20261125)
    ap.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    ap.add_argument("--l2-flush", choices=_measure.L2_FLUSHES, default="read",
                    help="empty the L2 before each run by reading a buffer twice its size "
                         "(default: clean lines left) or by zeroing it (the method before "
                         "session 24: its dirty lines are written back inside the timed run)")


def import_triageattention() -> Tuple[Optional[object], str]:
    """(the triageattention module, "") or (None, why it failed): the peers still run when the
    package is missing or was built without its extension."""
    try:
        import triageattention
        return triageattention, ""
    except Exception as e:
        why = short_error(e)
        print(f"warning: triageattention not importable ({why}); only the peers run",
              file=sys.stderr)
        return None, why


def run_suite_main(argv: Optional[List[str]], parse_args: Callable, make_suite: Callable,
                   cases: Callable) -> int:
    """The main() of every Python suite: parses argv, requires a CUDA device, describes the run,
    runs cases(suite, args) and reports (finish_suite); returns the exit status."""
    argv = sys.argv if argv is None else argv
    args = parse_args(argv[1:])
    if not torch.cuda.is_available():
        print("error: no CUDA device visible to torch; this benchmark needs an H100",
              file=sys.stderr)
        return 1
    torch.backends.cuda.matmul.allow_tf32 = False  # float32 references must be float32
    suite = make_suite(args)
    suite.describe(argv)
    warn_if_not_hopper(suite.device)
    return finish_suite(suite.report, lambda: suite.failed, lambda: cases(suite, args),
                        args.json)
