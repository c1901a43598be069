"""Decode suite: TriageAttention's paged sparse / dense decode beside torch SDPA in one run.

One new token per sequence (Sq = 1), bf16, Hq 32, Hkv 8, D 128, page 64, every sequence holding
the full context. Cases:
  - sparse B8 ctx 32k, topk = 1/8 of the pages: our sparse_decode (selection + split-KV decode +
    combine); metric: selected K/V bytes per second. Beside it, dense decode of the full context
    by torch SDPA (cuDNN, flash, efficient: every backend that runs) and by us (topk = all).
  - dense B8 ctx 32k and B64 ctx 4k: our dense decode vs the SDPA backends; metric: K/V bytes
    per second (the whole cache), and ours as a share of cuDNN's.
  - dense B8 ctx 4k: the same K/V bytes as the sparse B8/32k selection (134 MB), read whole by
    every SDPA backend and by us: the rate the best peer reaches on that many bytes, with no
    selection at all, beside the sparse call's.
  - B1 ctx 128k: latency of our sparse and dense decode beside SDPA's.
Every implementation is captured in a CUDA graph and timed by graph replay (cold L2, CUDA events,
median; docs/BENCHMARKING.md). Bytes: K and V of the visited tokens (2 * tokens * Hkv * D * 2);
the page summaries our selection also reads (2 * D values of the cache dtype per page and kv
head) are reported in a separate column. Checks: our dense output against cuDNN SDPA (or the first
backend that ran), our sparse output against a float32 reference over the pages it selected
(sequence 0, kv head 0), and bitwise reproducibility of our outputs across the timed runs.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from typing import Callable, List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness_py as hp  # noqa: E402  (lives beside this file)

SUITE = "decode (python)"
TOLERANCE = {torch.bfloat16: 2e-2, torch.float16: 2.5e-3}
BACKENDS = (("cuDNN", SDPBackend.CUDNN_ATTENTION), ("flash", SDPBackend.FLASH_ATTENTION),
            ("efficient", SDPBackend.EFFICIENT_ATTENTION))


def parse_cases(text: str) -> List[Tuple[int, int, bool]]:
    """"8:131072:sparse,64:4096" -> [(8, 131072, True), (64, 4096, False)]."""
    cases = []
    for item in text.split(","):
        parts = item.split(":")
        try:
            if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] != "sparse"):
                raise ValueError
            batch, ctx = int(parts[0]), int(parts[1])
            if batch < 1 or ctx < 1:
                raise ValueError
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"case {item!r}: expected BATCH:CONTEXT or BATCH:CONTEXT:sparse, both positive"
            ) from None
        cases.append((batch, ctx, len(parts) == 3))
    return cases


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--heads", type=int, default=32, help="query heads")
    ap.add_argument("--heads-kv", type=int, default=8)
    ap.add_argument("--head-dim", type=int, default=128, choices=(64, 128))
    ap.add_argument("--page-size", type=int, default=64, choices=(16, 32, 64, 128))
    ap.add_argument("--dtype", choices=["bf16", "fp16"], default="bf16")
    ap.add_argument("--density", type=float, default=0.125, help="topk / pages (default 1/8)")
    hp.add_run_args(ap)
    ap.add_argument("--quick", action="store_true",
                    help="contexts / 4 (B1 case 32k), 10 runs, 2 warm-up (flags win)")
    ap.add_argument("--cases", type=parse_cases, metavar="B:CTX[:sparse],...",
                    help="run these cases instead of the standard four, e.g. 8:131072:sparse "
                         "(batch 8, 128k context, sparse and dense rows); --quick leaves them")
    a = ap.parse_args(argv)
    a.runs = (10 if a.quick else 50) if a.runs is None else a.runs
    a.warmup = (2 if a.quick else 5) if a.warmup is None else a.warmup
    a.dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}[a.dtype]
    if a.heads % a.heads_kv or not 0 < a.density <= 1 or a.runs < 1 or a.warmup < 0:
        ap.error("need heads % heads_kv == 0, density in (0, 1], runs >= 1, warmup >= 0")
    return a


class Suite:
    def __init__(self, args):
        self.args = args
        self.device = torch.device("cuda")
        self.timer = hp.Timer(self.device, args.l2_flush)
        self.report = hp.Report()
        self.failed = False
        self.gen = torch.Generator(device=self.device).manual_seed(args.seed)
        self.ta, self.ta_import_error = hp.import_triageattention()

    def time(self, case: str, impl: str, fn: Callable[[], torch.Tensor], nbytes: float,
             ours: bool, notes: Optional[List[str]] = None, metrics=None):
        """Captures fn in a graph, times its replays, adds the row; returns (output, median ms)
        or (None, nan) when it raised."""
        row = hp.Row(SUITE, case, impl)
        notes = list(notes or [])
        out, ms = None, math.nan
        try:
            graph, out = hp.capture_graph(fn)
            graph.replay()
            first = hp.sha256_tensor(out)
            row.timing = self.timer.measure(lambda run: graph.replay(), warmup=self.args.warmup,
                                            runs=self.args.runs)
            row.sha256 = hp.sha256_tensor(out)
            ms = row.timing.median_ms
            row.metrics["K/V TB/s"] = nbytes / ms / 1e9
            row.metrics.update(metrics(ms) if metrics else {})
            if ours and row.sha256 != first:
                self.failed = True
                notes.append("MISMATCH: output not bitwise reproducible")
            out = out.clone()  # the graph's output buffer is freed with the graph
        except Exception as e:
            out = None
            if ours:
                self.failed = True
                print(f"\n!!!!! {impl} raised on {case}: {hp.short_error(e, 2000)}\n",
                      file=sys.stderr)
                notes.append(f"raised {hp.short_error(e)}")
            else:
                notes.append(f"refused: {hp.short_error(e)}")
        row.notes = "; ".join(notes)
        self.report.add(row)
        return out, ms

    def check(self, case: str, impl: str, what: str, ours, ref) -> None:
        if ours is None or ref is None:
            return
        rel, where = hp.max_relative_error(ours, ref)
        ok = rel <= TOLERANCE[self.args.dtype]
        print(f"{'ok:' if ok else '!!!!! WRONG RESULT !!!!!'} {case} {impl} vs {what}: relative "
              f"error {rel:.3e} at {list(where)}", file=sys.stderr)
        row = next(r for r in reversed(self.report.rows) if r.case == case and r.impl == impl)
        row.notes = "; ".join(filter(None, [row.notes, f"vs {what}: rel err {rel:.2e}"
                                            + ("" if ok else " WRONG RESULT")]))
        self.failed |= not ok

    def problem(self, batch: int, ctx: int):
        """q [B, Hq, 1, D], contiguous k, v [B, Hkv, ctx, D] (SDPA's input) and our paged cache
        holding the same K/V (None without triageattention)."""
        a = self.args
        q = torch.randn((batch, a.heads, 1, a.head_dim), generator=self.gen, device=self.device,
                        dtype=a.dtype)
        k, v = (torch.randn((batch, a.heads_kv, ctx, a.head_dim), generator=self.gen,
                            device=self.device, dtype=a.dtype) for _ in range(2))
        cache = None
        if self.ta is not None:
            cache = self.ta.PagedKVCache(batch, ctx, a.heads_kv, a.head_dim, a.page_size,
                                         dtype=a.dtype)
            cache.append(k, v)
        return q, k, v, cache

    def sdpa_rows(self, case: str, q, k, v, nbytes: float):
        """Times every SDPA backend; returns {name: (output, ms)} of those that ran."""
        gqa = self.args.heads != self.args.heads_kv
        ran = {}
        for name, backend in BACKENDS:
            def call(backend=backend):
                with sdpa_kernel(backend):
                    return F.scaled_dot_product_attention(q, k, v, enable_gqa=gqa)
            out, ms = self.time(case, f"torch SDPA {name} (dense)", call, nbytes, ours=False)
            if out is not None:
                ran[name] = (out, ms)
        return ran

    def kv_bytes(self, batch: int, tokens: int) -> float:
        a = self.args
        return 2.0 * batch * a.heads_kv * tokens * a.head_dim * a.dtype.itemsize

    def summary_bytes(self, batch: int, pages: int) -> float:
        a = self.args
        return 2.0 * batch * a.heads_kv * pages * a.head_dim * a.dtype.itemsize

    def ours_sparse(self, case, q, cache, ctx, best_sdpa_ms):
        a = self.args
        pages = -(-ctx // a.page_size)
        topk = max(1, round(a.density * pages))
        B = q.shape[0]
        # Every sequence is full, so each (sequence, kv head) visits exactly topk whole pages.
        selected = self.kv_bytes(B, min(topk, pages) * a.page_size)
        extra = self.summary_bytes(B, pages)

        def metrics(ms):
            m = {"summaries TB/s": extra / ms / 1e9}
            if math.isfinite(best_sdpa_ms):
                m["speedup vs best SDPA"] = best_sdpa_ms / ms
            return m
        out, _ = self.time(case, f"TriageAttention sparse_decode (topk {topk}/{pages})",
                           lambda: self.ta.sparse_decode(q, cache, topk), selected, ours=True,
                           metrics=metrics)
        if out is not None:
            self.check(case, self.report.rows[-1].impl, "float32 reference over its pages (b0 h0)",
                       out[:1, :1],
                       self.selected_reference(q, cache, topk))

    def selected_reference(self, q, cache, topk):
        """float32 attention of (sequence 0, query head 0) over the pages our selection picks."""
        from triageattention.decode import select_decode_pages
        indices, counts, _ = select_decode_pages(q, cache, topk)
        pages = indices[0, 0, :int(counts[0, 0])].long()
        phys = cache.page_table[0, pages].long()
        k = cache.k_cache[phys, 0].reshape(-1, cache.head_dim).float()
        v = cache.v_cache[phys, 0].reshape(-1, cache.head_dim).float()
        s = (q[0, 0].float() @ k.T) / math.sqrt(cache.head_dim)
        return (torch.softmax(s, -1) @ v)[None, None]

    def ours_dense(self, case, q, cache, ctx, cudnn_ms, ref):
        nbytes = self.kv_bytes(q.shape[0], ctx)

        def metrics(ms):
            return {"% of cuDNN": 100 * cudnn_ms / ms} if math.isfinite(cudnn_ms) else {}
        impl = "TriageAttention sparse_decode (dense: topk = all)"
        out, _ = self.time(case, impl, lambda: self.ta.sparse_decode(q, cache, cache.max_pages),
                           nbytes, ours=True, metrics=metrics)
        if ref is not None:
            self.check(case, impl, ref[1], out, ref[0])

    def case(self, batch: int, ctx: int, sparse: bool) -> None:
        a = self.args
        case = f"B{batch} H{a.heads}/{a.heads_kv} D{a.head_dim} ctx {ctx} page {a.page_size}"
        print(f"case {case}", file=sys.stderr)
        q, k, v, cache = self.problem(batch, ctx)
        nbytes = self.kv_bytes(batch, ctx)
        sdpa = self.sdpa_rows(case, q, k, v, nbytes)
        best = min((ms for _, ms in sdpa.values()), default=math.nan)
        cudnn_ms = sdpa["cuDNN"][1] if "cuDNN" in sdpa else math.nan
        ref = next(((out, f"SDPA {name}") for name, (out, _) in sdpa.items()), None)
        if cache is None:
            self.report.add(hp.Row(SUITE, case, "TriageAttention",
                                   notes=f"triageattention not importable: {self.ta_import_error}"))
            return
        del k, v
        if sparse:
            self.ours_sparse(case, q, cache, ctx, best)
        self.ours_dense(case, q, cache, ctx, cudnn_ms, ref)
        del cache
        torch.cuda.empty_cache()

    def describe(self, argv: List[str]) -> None:
        a = self.args
        hp.describe_run(self.report, argv, self.device, self.ta, self.ta_import_error)
        m = self.report.meta
        m["problem"] = (f"decode of 1 new token, Hq {a.heads}, Hkv {a.heads_kv}, D {a.head_dim}, "
                        f"{str(a.dtype).replace('torch.', '')}, page {a.page_size}, every "
                        f"sequence at the full context; sparse topk = {a.density:.3g} of the pages")
        m["timing"] = (f"each implementation captured in a CUDA graph, replays timed with CUDA "
                       f"events; {self.timer.describe_flush()}; {a.warmup} warm-up + "
                       f"{a.runs} timed runs; median")
        m["bytes"] = ("K/V TB/s: K and V of the visited tokens (ours sparse: the selected pages; "
                      "dense rows: the whole cache) / median time; summaries TB/s: the page "
                      "summaries (cache dtype) our selection reads, on top")


def run_cases(suite: Suite, args: argparse.Namespace) -> None:
    if args.cases:
        for batch, ctx, sparse in args.cases:
            suite.case(batch, ctx, sparse)
        return
    scale = 4 if args.quick else 1
    suite.case(8, 32768 // scale, sparse=True)
    suite.case(64, 4096 // scale, sparse=False)
    suite.case(8, 4096 // scale, sparse=False)
    suite.case(1, 131072 // scale, sparse=True)


def main(argv: Optional[List[str]] = None) -> int:
    return hp.run_suite_main(argv, parse_args, Suite, run_cases)


if __name__ == "__main__":
    sys.exit(main())
