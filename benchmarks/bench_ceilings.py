"""Device ceilings for the roofline, measured in the same run as the kernels they bound.

  - copy: dst.copy_(src) of a large bf16 tensor (default 512 MiB, ten times the H100's L2),
    rate = bytes read + bytes written per second: the DRAM bandwidth a streaming kernel can reach;
  - cuBLAS: torch.mm of two bf16 8192 x 8192 matrices into a bf16 output (fp32 accumulation),
    rate = 2 * M * N * K / time: the dense tensor-core rate a well-tuned GEMM reaches.

Both are timed by the harness (cold L2 before every run, CUDA events, median), like every suite.
benchmarks/roofline.py reads the two rates from this suite's JSON (suite "ceilings").
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import List, Optional

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness_py as hp  # noqa: E402  (lives beside this file)
from roofline import CEILINGS_SUITE, COPY_METRIC, GEMM_METRIC  # noqa: E402


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--copy-mib", type=int, default=512, help="size of the copied tensor")
    ap.add_argument("--gemm-size", type=int, default=8192, help="M = N = K of the cuBLAS GEMM")
    hp.add_run_args(ap)
    ap.add_argument("--quick", action="store_true", help="20 runs, 3 warm-up (flags win)")
    a = ap.parse_args(argv)
    a.runs = (20 if a.quick else 100) if a.runs is None else a.runs
    a.warmup = (3 if a.quick else 10) if a.warmup is None else a.warmup
    if a.copy_mib < 1 or a.gemm_size < 1 or a.runs < 1 or a.warmup < 0:
        ap.error("sizes and --runs must be positive, --warmup non-negative")
    return a


class Suite:
    def __init__(self, args):
        self.args = args
        self.device = torch.device("cuda")
        self.timer = hp.Timer(self.device, args.l2_flush)
        self.report = hp.Report()
        self.failed = False
        self.gen = torch.Generator(device=self.device).manual_seed(args.seed)

    def timed_row(self, case: str, impl: str, work, out: torch.Tensor) -> hp.Row:
        """Times work(), hashes `out` after the first call and after timing; a difference is
        noted (these are torch's kernels, not ours, so it does not fail the run)."""
        work()
        first = hp.sha256_tensor(out)
        row = hp.Row(CEILINGS_SUITE, case, impl)
        row.timing = self.timer.measure(lambda run: work(), warmup=self.args.warmup,
                                        runs=self.args.runs)
        row.sha256 = hp.sha256_tensor(out)
        if row.sha256 != first:
            row.notes = "output differs between runs"
        return row

    def copy(self) -> None:
        a = self.args
        n = a.copy_mib << 19  # bf16 elements in copy_mib MiB
        # Random bits as bf16, so the copy cannot be served by a compressed or zero page.
        src = torch.randint(-2 ** 15, 2 ** 15, (n,), dtype=torch.int16, device=self.device,
                            generator=self.gen).view(torch.bfloat16)
        dst = torch.empty_like(src)
        row = self.timed_row(f"bf16 {a.copy_mib} MiB -> {a.copy_mib} MiB",
                             "torch copy_ (device to device)", lambda: dst.copy_(src), dst)
        if not torch.equal(dst.view(torch.int16), src.view(torch.int16)):
            self.failed = True
            row.notes = "; ".join(filter(None, [row.notes, "WRONG RESULT: copy differs"]))
        row.metrics[COPY_METRIC] = hp.gbytes_per_s(2.0 * src.nbytes, row.timing.median_ms)
        self.report.add(row)

    def gemm(self) -> None:
        s = self.args.gemm_size
        # Uniform in [-1, 1), as the GEMM suite's B: power draw (and clocks) depend on the data.
        a, b = ((2 * torch.rand(s, s, device=self.device, generator=self.gen) - 1)
                .to(torch.bfloat16) for _ in range(2))
        c = torch.empty(s, s, dtype=torch.bfloat16, device=self.device)
        row = self.timed_row(f"M{s} N{s} K{s} bf16", "cuBLAS dense (torch.mm)",
                             lambda: torch.mm(a, b, out=c), c)
        if not bool(torch.isfinite(c).all()):
            self.failed = True
            row.notes = "; ".join(filter(None, [row.notes, "WRONG RESULT: non-finite output"]))
        row.metrics[GEMM_METRIC] = hp.tflops(2.0 * s ** 3, row.timing.median_ms)
        self.report.add(row)

    def describe(self, argv: List[str]) -> None:
        a = self.args
        hp.describe_run(self.report, argv, self.device, None, "")
        m = self.report.meta
        m["triageattention"] = "not used (torch only)"
        m["dtype"] = "bf16 (GEMM: fp32 accumulate, torch's default reduced-precision reduction)"
        m["timing"] = (f"CUDA events around the work only; {self.timer.describe_flush()}; "
                       f"{a.warmup} warm-up + {a.runs} timed runs; median; "
                       f"spread = (p90 - p10) / median")
        m["rates"] = (f"{COPY_METRIC}: 2 * tensor bytes / median; {GEMM_METRIC}: 2 * M * N * K "
                      "/ median")


def run_cases(suite: Suite, args: argparse.Namespace) -> None:
    suite.copy()
    suite.gemm()


def main(argv: Optional[List[str]] = None) -> int:
    return hp.run_suite_main(argv, parse_args, Suite, run_cases)


if __name__ == "__main__":
    sys.exit(main())
