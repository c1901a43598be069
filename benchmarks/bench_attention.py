"""Attention suite, Python side: TriageAttention beside torch SDPA and FlexAttention in one run.

q [B, H, S, D], k and v [B, Hkv, S, D] (default B=1, H=Hkv=32, S=16384, D=128, bf16), standard
normal. Cases and implementations:
  - dense, non-causal and causal: triageattention.dense_attention; torch SDPA with the cuDNN and
    with the flash backend (Sq = Sk, so SDPA's top-left causal alignment is ours too);
  - sparse: a random pattern with the same number of key blocks (12.5% by default) in every
    row, distinct and ascending, one per kv head, at key blocks 128, 64, 32 and 16 (query
    blocks 128): triageattention.block_sparse_attention; compiled flex_attention on the
    identical mask (block_mask_from_pattern), where Flex takes the block size (it may refuse
    32 and 16: its error is recorded, then it is retried with kernel_options BLOCK_N = block);
    for blocks under 128 also Flex given the same pattern as a token-level mask_mod over its
    default 128 x 128 blocks (create_block_mask), which costs it every 128-block that holds a
    selected block.
Useful FLOPs are 4 * D * (unmasked query-key pairs), counted exactly from the pattern and the
causal mask, the same for every implementation of a case. Our rows are checked against a float32
reference on (batch 0, head 0) and against a peer (cuDNN SDPA for dense, Flex for sparse); the
max abs error is printed. Timing method and report format: docs/BENCHMARKING.md (as the GEMM
suites).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from typing import Callable, List, Optional

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness_py as hp  # noqa: E402  (lives beside this file)

SUITE = "attention (python)"
# max |ours - ref| / max |ref|, as bench_gemm.py: fp16's is bf16's scaled by its finer rounding.
TOLERANCE = {torch.bfloat16: 2e-2, torch.float16: 2.5e-3}
# Text of the library's error for a configuration left out of a one-config build.
NOT_BUILT_TEXT = "this build has no kernel"
Q_BLOCK = 128
FLEX_BLOCK = 128  # the block size of Flex's token-level-mask rows (its default)


def add_problem_args(ap: argparse.ArgumentParser, seqlen_help: str, bs_default: str) -> None:
    """The attention problem's options, shared with bench_triage.py."""
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--heads", type=int, default=32, help="query heads")
    ap.add_argument("--heads-kv", type=int, help="key/value heads (default: --heads)")
    ap.add_argument("--seqlen", type=int, help=seqlen_help)
    ap.add_argument("--head-dim", type=int, default=128, choices=(64, 128))
    ap.add_argument("--dtype", choices=["bf16", "fp16"], default="bf16")
    ap.add_argument("--bs", default=bs_default, help="comma-separated key block sizes")
    ap.add_argument("--density", type=float, default=0.125,
                    help="share of key blocks each row visits, in (0, 1] (default 0.125)")
    hp.add_run_args(ap)


def check_problem_args(ap: argparse.ArgumentParser, a: argparse.Namespace, seqlen: int,
                       quick_seqlen: int) -> argparse.Namespace:
    """Fills the defaults (--quick: quick_seqlen, 10 runs, 2 warm-up) and checks the values."""
    a.heads_kv = a.heads if a.heads_kv is None else a.heads_kv
    a.seqlen = (quick_seqlen if a.quick else seqlen) if a.seqlen is None else a.seqlen
    a.runs = (10 if a.quick else 30) if a.runs is None else a.runs
    a.warmup = (2 if a.quick else 5) if a.warmup is None else a.warmup
    try:
        a.bs = [int(s) for s in a.bs.split(",")]
    except ValueError as e:
        ap.error(f"--bs takes comma-separated numbers: {e}")
    if any(bs not in (16, 32, 64, 128) for bs in a.bs):
        ap.error("--bs values must be among 16, 32, 64, 128")
    if not 0 < a.density <= 1:
        ap.error("--density must be in (0, 1]")
    if min(a.batch, a.heads, a.heads_kv, a.seqlen, a.runs) < 1 or a.warmup < 0:
        ap.error("sizes and --runs must be positive, --warmup non-negative")
    if a.heads % a.heads_kv:
        ap.error("--heads must be a multiple of --heads-kv")
    a.dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}[a.dtype]
    return a


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    add_problem_args(ap, "Sq = Sk (default 16384, --quick 4096)", "128,64,32,16")
    ap.add_argument("--no-flex", action="store_true", help="skip the FlexAttention rows")
    ap.add_argument("--quick", action="store_true",
                    help="S = 4096, 10 runs, 2 warm-up (flags win)")
    return check_problem_args(ap, ap.parse_args(argv), 16384, 4096)


class Suite:
    name = SUITE  # the report's section for this suite's rows

    def __init__(self, args):
        self.args = args
        self.device = torch.device("cuda")
        self.timer = hp.Timer(self.device, args.l2_flush)
        self.report = hp.Report()
        self.failed = False
        a = args
        gen = torch.Generator(device=self.device).manual_seed(a.seed)

        def randn(heads):
            return torch.randn((a.batch, heads, a.seqlen, a.head_dim), generator=gen,
                               device=self.device, dtype=a.dtype)

        self.q, self.k, self.v = randn(a.heads), randn(a.heads_kv), randn(a.heads_kv)
        self.gen = gen
        self.scale = 1 / math.sqrt(a.head_dim)
        self.ta, self.ta_import_error = hp.import_triageattention()
        self.flex = None
        if not a.no_flex:
            try:
                from torch.nn.attention import flex_attention as flex
                self.flex = flex
                self.flex_fn = torch.compile(flex.flex_attention, dynamic=False)
                # Every block size and mask_mod is one more compilation of flex_attention;
                # past the limit torch would silently run it uncompiled.
                for name in ("recompile_limit", "cache_size_limit"):
                    if hasattr(torch._dynamo.config, name):
                        setattr(torch._dynamo.config, name, 64)
            except ImportError as e:
                print(f"warning: no FlexAttention in this torch ({e}); its rows are skipped",
                      file=sys.stderr)

    # -- measuring ---------------------------------------------------------------------------

    def run(self, case: str, impl: str, call: Callable[[], torch.Tensor], flops: float,
            ours: bool = False, notes: Optional[List[str]] = None) -> Optional[torch.Tensor]:
        """Times call(), adds its row and returns its output (None when it raised)."""
        row = hp.Row(self.name, case, impl)
        notes = list(notes or [])
        out = None
        try:
            out = call()
            first_hash = hp.sha256_tensor(out)
            last = [out]  # only the latest output is kept, for its hash

            def work(run: int) -> None:
                last[0] = call()

            row.timing = self.timer.measure(work, warmup=self.args.warmup, runs=self.args.runs)
            out = last[0]
            row.sha256 = hp.sha256_tensor(out)
            row.metrics["useful TFLOP/s"] = hp.tflops(flops, row.timing.median_ms)
            if ours and row.sha256 != first_hash:
                self.failed = True
                print(f"\n!!!!! MISMATCH !!!!! {case}, {impl}: output differs between runs\n"
                      f"  first run    {first_hash}\n  after timing {row.sha256}\n",
                      file=sys.stderr)
                notes.append("MISMATCH: output not bitwise reproducible")
        except Exception as e:
            out = None
            if ours and NOT_BUILT_TEXT in str(e):
                notes.append(f"not built: {hp.short_error(e)}")
            elif ours:
                self.failed = True
                print(f"\n!!!!! {impl} raised on {case}: {hp.short_error(e, 2000)}\n",
                      file=sys.stderr)
                notes.append(f"raised {hp.short_error(e)}")
            else:  # a peer may refuse a configuration: that is a result, recorded in the notes
                notes.append(f"refused: {hp.short_error(e)}")
        row.notes = "; ".join(notes)
        self.report.add(row)
        return out

    def check(self, case: str, what: str, ours: Optional[torch.Tensor],
              ref: Optional[torch.Tensor]) -> None:
        """Prints and notes max |ours - ref| (ref: a peer's output, or a reference of the same
        shape); a relative error (to max |ref|) above TOLERANCE fails the run."""
        if ours is None or ref is None:
            return
        rel, where = hp.max_relative_error(ours, ref)
        abs_err = float((ours.float() - ref.float()).abs().max())
        tol = TOLERANCE[self.args.dtype]
        ok = rel <= tol  # False for NaN
        print(f"{'ok:' if ok else chr(10) + '!!!!! WRONG RESULT !!!!!'} check {case} vs {what}: "
              f"max abs error {abs_err:.3e}, relative {rel:.3e} (tolerance {tol:.1e}), worst at "
              f"{list(where)}", file=sys.stderr)
        row = next(r for r in reversed(self.report.rows)
                   if r.case == case and r.impl.startswith("TriageAttention"))
        row.notes = "; ".join(filter(None, [row.notes, f"vs {what}: max abs err {abs_err:.2e}"
                                            + ("" if ok else " WRONG RESULT")]))
        if not ok:
            self.failed = True

    def head_reference(self, token_mask: torch.Tensor) -> torch.Tensor:
        """float32 attention of (batch 0, head 0) over token_mask [Sq, Sk], as [1, 1, Sq, D]."""
        q, k, v = (t[0, 0].float() for t in (self.q, self.k, self.v))
        scores = (q @ k.T * self.scale).masked_fill_(~token_mask, -math.inf)
        p = torch.softmax(scores, dim=-1).nan_to_num_(0.0)
        return (p @ v)[None, None]

    def run_ours(self, case: str, function: str, fn: Callable[[], torch.Tensor],
                 flops: float) -> Optional[torch.Tensor]:
        """Times our `function`, or records why it cannot run (package not importable)."""
        impl = f"TriageAttention {function}"
        if self.ta is None:
            self.report.add(hp.Row(self.name, case, impl,
                                   notes=f"triageattention not importable: {self.ta_import_error}"))
            return None
        return self.run(case, impl, fn, flops, ours=True)

    # -- cases -------------------------------------------------------------------------------

    def dense_case(self, causal: bool) -> None:
        a = self.args
        flops = 4.0 * a.head_dim * hp.useful_pairs(a.seqlen, a.seqlen, Q_BLOCK, Q_BLOCK, causal,
                                                   batch=a.batch, heads_q=a.heads)
        case = (f"dense{' causal' if causal else ''} B{a.batch} H{a.heads}/{a.heads_kv} "
                f"S{a.seqlen} D{a.head_dim}")
        print(f"case {case}", file=sys.stderr)
        ours = self.run_ours(case, "dense_attention",
                             lambda: self.ta.dense_attention(self.q, self.k, self.v,
                                                             causal=causal), flops)
        peers = {}
        gqa = a.heads != a.heads_kv
        for name, backend in (("cuDNN", SDPBackend.CUDNN_ATTENTION),
                              ("flash", SDPBackend.FLASH_ATTENTION)):
            def sdpa(backend=backend):
                with sdpa_kernel(backend):
                    return F.scaled_dot_product_attention(self.q, self.k, self.v,
                                                          is_causal=causal, enable_gqa=gqa)
            peers[name] = self.run(case, f"torch SDPA {name}", sdpa, flops)
        mask = torch.ones((a.seqlen, a.seqlen), dtype=torch.bool, device=self.device)
        if causal:
            mask = mask.tril_()
        self.check(case, "float32 reference (b0 h0)", None if ours is None else ours[:1, :1],
                   self.head_reference(mask))
        peer = "cuDNN" if peers["cuDNN"] is not None else "flash"
        self.check(case, f"{peer} SDPA", ours, peers[peer])

    def sparse_case(self, block_size: int) -> None:
        a = self.args
        nq, nk = -(-a.seqlen // Q_BLOCK), -(-a.seqlen // block_size)
        topk = min(max(round(a.density * nk), 1), nk)
        # Exactly topk distinct blocks per row: the first topk of a random permutation, sorted.
        order = torch.rand((a.batch, a.heads_kv, nq, nk), generator=self.gen,
                           device=self.device).argsort(dim=-1)
        kv_indices = order[..., :topk].sort(dim=-1).values.to(torch.int32).contiguous()
        kv_counts = torch.full((a.batch, a.heads_kv, nq), topk, dtype=torch.int32,
                               device=self.device)
        flops = 4.0 * a.head_dim * hp.useful_pairs(a.seqlen, a.seqlen, block_size, Q_BLOCK,
                                                   pattern=(kv_indices, kv_counts),
                                                   heads_q=a.heads)
        case = (f"sparse bs{block_size} topk {topk}/{nk} ({100 * topk / nk:.1f}%) B{a.batch} "
                f"H{a.heads}/{a.heads_kv} S{a.seqlen} D{a.head_dim}")
        print(f"case {case}", file=sys.stderr)

        ours = self.run_ours(case, "block_sparse_attention",
                             lambda: self.ta.block_sparse_attention(
                                 self.q, self.k, self.v, kv_indices, kv_counts, block_size,
                                 Q_BLOCK), flops)
        if self.ta is not None:
            blocks = torch.zeros((nq, nk), dtype=torch.bool, device=self.device)
            blocks[torch.arange(nq, device=self.device)[:, None], kv_indices[0, 0].long()] = True
            mask = (blocks.repeat_interleave(Q_BLOCK, 0)[:a.seqlen]
                    .repeat_interleave(block_size, 1)[:, :a.seqlen])
            self.check(case, "float32 reference (b0 h0)",
                       None if ours is None else ours[:1, :1], self.head_reference(mask))
            del blocks, mask
        if self.flex is None or self.ta is None:  # the masks come from triageattention.flex
            return

        gqa = a.heads != a.heads_kv
        block_mask = self.ta.block_mask_from_pattern(kv_indices, kv_counts, block_size, Q_BLOCK,
                                                     a.seqlen, a.seqlen, heads_q=a.heads)
        flex_out = self.run(case, f"FlexAttention (block {block_size})",
                            lambda: self.flex_fn(self.q, self.k, self.v, block_mask=block_mask,
                                                 enable_gqa=gqa),
                            flops)
        if flex_out is None:
            options = {"BLOCK_N": block_size}
            flex_out = self.run(case, f"FlexAttention (block {block_size}, kernel_options "
                                      f"BLOCK_N={block_size})",
                                lambda: self.flex_fn(self.q, self.k, self.v,
                                                     block_mask=block_mask, enable_gqa=gqa,
                                                     kernel_options=options),
                                flops)
        peer_out, peer = flex_out, f"Flex block {block_size}"
        if block_size < FLEX_BLOCK:
            # The pattern as a token-level mask_mod: Flex visits every 128 x 128 block holding a
            # selected block and masks per token inside it.
            group = a.heads // a.heads_kv
            selected = torch.zeros((a.batch, a.heads_kv, nq, nk), dtype=torch.bool,
                                   device=self.device)
            selected.scatter_(-1, kv_indices.long(),
                              torch.ones_like(kv_indices, dtype=torch.bool))

            def pattern_mask(b, h, q_idx, kv_idx):
                return selected[b, h // group, q_idx // Q_BLOCK, kv_idx // block_size]

            token_mask = self.flex.create_block_mask(
                pattern_mask, a.batch, a.heads, a.seqlen, a.seqlen, device=self.device,
                BLOCK_SIZE=FLEX_BLOCK, _compile=True)
            visited = int(token_mask.kv_num_blocks.sum())
            if token_mask.full_kv_num_blocks is not None:
                visited += int(token_mask.full_kv_num_blocks.sum())
            tiles = a.batch * a.heads * (-(-a.seqlen // FLEX_BLOCK)) ** 2
            token_out = self.run(
                case, f"FlexAttention (token mask_mod, block {FLEX_BLOCK})",
                lambda: self.flex_fn(self.q, self.k, self.v, block_mask=token_mask,
                                     enable_gqa=gqa),
                flops, notes=[f"visits {100 * visited / tiles:.1f}% of the {FLEX_BLOCK}-tiles"])
            if peer_out is None:
                peer_out, peer = token_out, "Flex token mask_mod"
        self.check(case, peer, ours, peer_out)

    def describe(self, argv: List[str]) -> None:
        a = self.args
        m = self.report.meta
        hp.describe_run(self.report, argv, self.device, self.ta, self.ta_import_error)
        m["problem"] = (f"q [B={a.batch}, H={a.heads}, S={a.seqlen}, D={a.head_dim}], k/v with "
                        f"{a.heads_kv} heads, {str(a.dtype).replace('torch.', '')}, standard "
                        f"normal; sparse rows: {a.density:.1%} of the key blocks per row, random, "
                        f"one pattern per kv head, query blocks {Q_BLOCK}")
        m["timing"] = (f"CUDA events around the work only; {self.timer.describe_flush()}; "
                       f"{a.warmup} warm-up + {a.runs} timed runs; median; "
                       f"spread = (p90 - p10) / median")
        m["useful FLOPs"] = ("4 * D * unmasked (query, key) pairs, counted from the pattern and "
                             "causal mask (same for every impl of a case)")


def run_cases(suite: Suite, args: argparse.Namespace) -> None:
    for causal in (False, True):
        suite.dense_case(causal)
    for bs in args.bs:
        suite.sparse_case(bs)


def main(argv: Optional[List[str]] = None) -> int:
    return hp.run_suite_main(argv, parse_args, Suite, run_cases)


if __name__ == "__main__":
    sys.exit(main())
