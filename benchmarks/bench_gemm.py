"""BSR GEMM suite, Python side: TriageAttention's bsr_matmul beside torch peers in the same run.

C = A_bsr @ B with A M x K holding exactly topk random distinct blocks per block-row (ascending,
random non-zero values) and B K x N row-major. Implementations timed per case:
  - triageattention.bsr_matmul on the fixed top-k form (crow None, col [M/bs, topk]);
  - triageattention.bsr_matmul on the torch.sparse_bsr tensor (general form);
  - torch BSR @ dense (A_bsr @ B);
  - torch dense matmul on the densified A (all 2MNK FLOPs, zeros included);
  - torch dense matmul on the compacted problem M x N x (topk * bs): same useful FLOPs, no gather.
Usage, columns and method: docs/BENCHMARKING.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import warnings
from typing import Callable, List, Optional

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness_py as hp  # noqa: E402  (lives beside this file)

SUITE = "sparse_gemm (python)"
# Block sizes up to this one are bound by re-reading B: report the B-read rate beside TFLOP/s.
MAX_B_READ_BOUND_BLOCK = 32
# max |ours - ref| / max |ref|; fp16's is bf16's scaled by its 8x finer rounding step.
TOLERANCE = {torch.bfloat16: 2e-2, torch.float16: 2.5e-3}
# Text of the library's error for a configuration left out of a one-config build.
NOT_BUILT_TEXT = "this build has no kernel"


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--m", type=int)
    ap.add_argument("--n", type=int)
    ap.add_argument("--k", type=int)
    ap.add_argument("--bs", default="16,32,64,128", help="comma-separated block sizes")
    ap.add_argument("--density", help="comma-separated densities in (0, 1] (default 0.125,0.5)")
    ap.add_argument("--dtype", choices=["bf16", "fp16"], default="bf16")
    hp.add_run_args(ap)
    ap.add_argument("--quick", action="store_true",
                    help="M = N = K = 4096, density 0.125, 10 runs, 2 warm-up (flags win)")
    a = ap.parse_args(argv)
    size = 4096 if a.quick else 8192
    a.m = size if a.m is None else a.m
    a.n = size if a.n is None else a.n
    a.k = size if a.k is None else a.k
    a.runs = (10 if a.quick else 50) if a.runs is None else a.runs
    a.warmup = (2 if a.quick else 5) if a.warmup is None else a.warmup
    if a.density is None:
        a.density = "0.125" if a.quick else "0.125,0.5"
    try:
        a.bs = [int(s) for s in a.bs.split(",")]
        a.density = [float(s) for s in a.density.split(",")]
    except ValueError as e:
        ap.error(f"--bs and --density take comma-separated numbers: {e}")
    if any(bs not in (16, 32, 64, 128) for bs in a.bs):
        ap.error("--bs values must be among 16, 32, 64, 128")
    if any(not 0 < d <= 1 for d in a.density):
        ap.error("--density values must be in (0, 1]")
    if min(a.m, a.n, a.k) < 1 or a.runs < 1 or a.warmup < 0:
        ap.error("sizes and --runs must be positive, --warmup non-negative")
    if any(a.m % bs or a.k % bs for bs in a.bs):
        ap.error("M and K must be multiples of every block size")
    if a.n % 8:
        ap.error("N must be a multiple of 8 (16-byte aligned rows of B and C)")
    a.dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}[a.dtype]
    return a


@dataclasses.dataclass
class Case:
    name: str
    bs: int
    topk: int
    cols: torch.Tensor      # [M/bs, topk] int32, ascending per row
    values: torch.Tensor    # [nnzb, bs, bs]
    a_bsr: torch.Tensor     # torch.sparse_bsr view of (crow, cols, values)
    a_dense: torch.Tensor   # [M, K], zeros off the pattern
    a_compact: torch.Tensor  # [M, topk * bs]: each block-row's blocks side by side
    useful_flops: float
    b_read_bytes: float
    validate: bool
    fixed_hash: str = ""     # output hash of the fixed top-k form, to compare the general form


def make_case(args, B: torch.Tensor, bs: int, density: float, validate: bool,
              gen: torch.Generator) -> Case:
    M, N, K = args.m, args.n, args.k
    dev = B.device
    mb, kb = M // bs, K // bs
    topk = min(max(round(density * kb), 1), kb)
    # Exactly topk distinct columns per row: the first topk of a random permutation, sorted.
    cols = torch.rand(mb, kb, device=dev, generator=gen).argsort(dim=1)[:, :topk]
    cols = cols.sort(dim=1).values.to(torch.int32).contiguous()
    # Magnitudes in [0.25, 1) with random signs: no stored value rounds to zero.
    magnitude = 0.25 + 0.75 * torch.rand(mb * topk, bs, bs, device=dev, generator=gen)
    sign = torch.randint(0, 2, magnitude.shape, device=dev, generator=gen) * 2 - 1
    values = (magnitude * sign).to(args.dtype)
    crow = torch.arange(0, mb + 1, dtype=torch.int32, device=dev) * topk
    # Checked once here (cheap next to the benchmark), which also silences torch's warning.
    with torch.sparse.check_sparse_tensor_invariants(True):
        a_bsr = torch.sparse_bsr_tensor(crow, cols.reshape(-1), values, size=(M, K))
    # Densify by scatter rather than a_bsr.to_dense(), so the dense peer and the reference do
    # not depend on torch's sparse code.
    dense4 = torch.zeros(mb, kb, bs, bs, dtype=args.dtype, device=dev)
    dense4[torch.arange(mb, device=dev)[:, None], cols.long()] = values.view(mb, topk, bs, bs)
    a_dense = dense4.permute(0, 2, 1, 3).reshape(M, K)
    a_compact = values.view(mb, topk, bs, bs).permute(0, 2, 1, 3).reshape(M, topk * bs)
    nnzb = mb * topk
    name = f"M{M} N{N} K{K} bs{bs} topk {topk}/{kb} ({100 * topk / kb:.1f}%)"
    return Case(name=name, bs=bs, topk=topk, cols=cols, values=values, a_bsr=a_bsr,
                a_dense=a_dense, a_compact=a_compact, useful_flops=2.0 * bs * bs * N * nnzb,
                b_read_bytes=float(nnzb) * bs * N * B.element_size(), validate=validate)


class Suite:
    def __init__(self, args):
        self.args = args
        self.device = torch.device("cuda")
        self.timer = hp.Timer(self.device, args.l2_flush)
        self.report = hp.Report()
        self.failed = False
        gen = torch.Generator(device=self.device).manual_seed(args.seed)
        self.B = (2 * torch.rand(args.k, args.n, device=self.device, generator=gen) - 1).to(
            args.dtype)
        self.c_ours = torch.empty(args.m, args.n, dtype=args.dtype, device=self.device)
        self.c_peer = torch.empty_like(self.c_ours)
        self.ta, self.ta_import_error = hp.import_triageattention()

    def measure(self, work: Callable[[int], object]) -> hp.Timing:
        return self.timer.measure(work, warmup=self.args.warmup, runs=self.args.runs)

    def _check(self, case: Case, impl: str, ref: torch.Tensor) -> str:
        rel, where = hp.max_relative_error(self.c_ours, ref)
        tol = TOLERANCE[self.args.dtype]
        ok = rel <= tol  # False for NaN
        verdict = "ok:" if ok else "\n!!!!! WRONG RESULT !!!!!"
        print(f"{verdict} check {case.name}, "
              f"{impl}: max|ours - ref| / max|ref| = {rel:.3e} (tolerance {tol:.1e}); worst at "
              f"C{list(where)}: ours {float(self.c_ours[where]):.6g}, "
              f"reference {float(ref[where]):.6g}", file=sys.stderr)
        if not ok:
            self.failed = True
            return f"WRONG RESULT: rel err {rel:.2e}"
        return f"rel err {rel:.2e} vs fp32 reference"

    def run_ours(self, case: Case, impl: str, call: Callable[[], object], fixed_form: bool,
                 ref: Optional[torch.Tensor]) -> None:
        row = hp.Row(SUITE, case.name, impl)
        if self.ta is None:
            row.notes = f"triageattention not importable: {self.ta_import_error}"
            self.report.add(row)
            return
        notes = []
        try:
            self.c_ours.fill_(float("nan"))  # an element the kernel never writes cannot pass
            call()
            first_hash = hp.sha256_tensor(self.c_ours)
            if ref is not None:
                notes.append(self._check(case, impl, ref))
            row.timing = self.measure(lambda run: call())
            row.sha256 = hp.sha256_tensor(self.c_ours)
            if row.sha256 != first_hash:
                self.failed = True
                print(f"\n!!!!! MISMATCH !!!!! {case.name}, {impl}: output differs between runs\n"
                      f"  first run    {first_hash}\n  after timing {row.sha256}\n",
                      file=sys.stderr)
                notes.append("MISMATCH: output not bitwise reproducible")
            if fixed_form:
                case.fixed_hash = row.sha256
            elif case.fixed_hash:
                notes.append("bitwise = top-k form" if row.sha256 == case.fixed_hash
                             else "differs bitwise from top-k form")
        except Exception as e:
            if NOT_BUILT_TEXT in str(e):
                notes.append(f"not built: {e}")
            else:
                self.failed = True
                print(f"\n!!!!! {impl} raised on {case.name}: {type(e).__name__}: {e}\n",
                      file=sys.stderr)
                notes.append(f"raised {type(e).__name__}: {e}")
        if row.timing.runs:
            row.metrics["useful TFLOP/s"] = hp.tflops(case.useful_flops, row.timing.median_ms)
            if case.bs <= MAX_B_READ_BOUND_BLOCK:
                row.metrics["B-read GB/s"] = hp.gbytes_per_s(case.b_read_bytes,
                                                             row.timing.median_ms)
        row.notes = "; ".join(notes)
        self.report.add(row)

    def run_torch_bsr(self, case: Case, ref: Optional[torch.Tensor]) -> None:
        row = hp.Row(SUITE, case.name, "torch BSR @ dense")
        last = []  # the output of the latest call, for hashing and the error note

        def call(run: int) -> None:
            last[:] = [case.a_bsr @ self.B]

        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                call(0)
            row.timing = self.measure(call)
            row.sha256 = hp.sha256_tensor(last[0])
            row.metrics["useful TFLOP/s"] = hp.tflops(case.useful_flops, row.timing.median_ms)
            notes = ["allocates its output"]
            # torch says so when its Triton kernel has no tuned parameters for this shape/device.
            if any("non-optimal" in str(w.message) for w in caught):
                notes.append("torch: untuned Triton parameters")
            if ref is not None:
                notes.append(f"rel err {hp.max_relative_error(last[0], ref)[0]:.2e}")
            row.notes = "; ".join(notes)
        except Exception as e:  # torch may lack a kernel for this dtype or block size
            row.timing = hp.Timing()
            row.notes = f"torch refused: {type(e).__name__}: {e}"
        self.report.add(row)

    def run_dense(self, case: Case, impl: str, a: torch.Tensor, b: torch.Tensor,
                  notes: str) -> None:
        row = hp.Row(SUITE, case.name, impl)
        row.timing = self.measure(lambda run: torch.matmul(a, b, out=self.c_peer))
        row.sha256 = hp.sha256_tensor(self.c_peer)
        row.metrics["useful TFLOP/s"] = hp.tflops(case.useful_flops, row.timing.median_ms)
        if a.shape[1] == self.args.k:
            dense_flops = 2.0 * self.args.m * self.args.n * self.args.k
            row.metrics["dense TFLOP/s"] = hp.tflops(dense_flops, row.timing.median_ms)
        row.notes = notes
        self.report.add(row)

    def run_case(self, bs: int, density: float, validate: bool, gen: torch.Generator) -> None:
        args = self.args
        case = make_case(args, self.B, bs, density, validate, gen)
        print(f"case {case.name}", file=sys.stderr)
        ref = None
        if case.validate:
            # fp32 reference: plain fp32 matmul (no TF32) of the densified A.
            tf32 = torch.backends.cuda.matmul.allow_tf32
            torch.backends.cuda.matmul.allow_tf32 = False
            try:
                ref = case.a_dense.float() @ self.B.float()
            finally:
                torch.backends.cuda.matmul.allow_tf32 = tf32

        ta = self.ta
        self.run_ours(case, "TriageAttention bsr_matmul (top-k)",
                      lambda: ta.bsr_matmul((None, case.cols, case.values), self.B,
                                            out=self.c_ours),
                      fixed_form=True, ref=ref)
        self.run_ours(case, "TriageAttention bsr_matmul (torch BSR)",
                      lambda: ta.bsr_matmul(case.a_bsr, self.B, out=self.c_ours),
                      fixed_form=False, ref=ref)
        self.run_torch_bsr(case, ref)
        self.run_dense(case, "torch dense (densified A)", case.a_dense, self.B,
                       "computes all 2MNK FLOPs, zeros included")
        kc = case.topk * bs
        self.run_dense(case, "torch dense compacted (ceiling)", case.a_compact, self.B[:kc],
                       f"dense {args.m}x{args.n}x{kc}, not the same product")

    def describe(self, argv: List[str]) -> None:
        a = self.args
        m = self.report.meta
        hp.describe_run(self.report, argv, self.device, self.ta, self.ta_import_error)
        m["dtype"] = f"{str(a.dtype).replace('torch.', '')} in and out, fp32 accumulate"
        m["timing"] = (f"CUDA events around the work only; {self.timer.describe_flush()}; "
                       f"{a.warmup} warm-up + {a.runs} timed runs; median; "
                       f"spread = (p90 - p10) / median")
        m["useful FLOPs"] = "2 * bs^2 * N per stored block (same for every impl)"


def run_cases(suite: Suite, args: argparse.Namespace) -> None:
    gen = torch.Generator(device=suite.device).manual_seed(args.seed + 1)
    for bs in args.bs:
        for i, density in enumerate(args.density):
            suite.run_case(bs, density, validate=(i == 0), gen=gen)


def main(argv: Optional[List[str]] = None) -> int:
    # torch's BSR support warns that it is in beta, once per case.
    warnings.filterwarnings("ignore", message="Sparse BSR tensor support is in beta")
    return hp.run_suite_main(argv, parse_args, Suite, run_cases)


if __name__ == "__main__":
    sys.exit(main())
