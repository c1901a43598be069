"""Triage suite: GPU top-k selection and sparse_attention end to end, beside dense SDPA.

q [B, H, S, D], k and v [B, Hkv, S, D] (default B=1, H=Hkv=32, S=16384, D=128, bf16), standard
normal. For each key block size (default 64) with topk = 1/8 of the key blocks (12.5%), non-causal
and causal:
  - TriageAttention triage: the selection alone (block means, scores, top-k);
  - TriageAttention block_sparse_attention on that pattern;
  - TriageAttention sparse_attention: selection + attention in one call (what a user runs);
  - torch SDPA dense with the cuDNN and flash backends on the same shape (peers).
Useful FLOPs are those of the selected pattern (4 * D * unmasked pairs) for our attention rows
and of dense attention for SDPA. Derived columns: the selection's share of the attention time,
sparse_attention's speedup over cuDNN, and the attention-mass recall of the selection (dense
softmax mass inside the selected blocks) on batch 0, heads 0-3. A separate case plants, for every
query block, a few key blocks sharing a strong direction with it and reports the share found.
Timing method and report format: docs/BENCHMARKING.md.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import List, Optional

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_attention as ba  # noqa: E402  (lives beside this file)
import harness_py as hp  # noqa: E402

RECALL_HEADS = 4


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ba.add_problem_args(ap, "Sq = Sk (default 16384, --quick 8192)", "64")
    ap.add_argument("--quick", action="store_true", help="S = 8192, 10 runs, 2 warm-up")
    a = ba.check_problem_args(ap, ap.parse_args(argv), 16384, 8192)
    a.no_flex = True  # bench_attention.py runs Flex on given patterns
    return a


class TriageSuite(ba.Suite):
    name = "triage (python)"

    def describe(self, argv: List[str]) -> None:
        super().describe(argv)
        a = self.args
        self.report.meta["problem"] = (
            f"q [B={a.batch}, H={a.heads}, S={a.seqlen}, D={a.head_dim}], k/v with "
            f"{a.heads_kv} heads, {str(a.dtype).replace('torch.', '')}, standard normal; "
            f"topk = {a.density:.1%} of the key blocks, one pattern per kv head, query blocks "
            f"{ba.Q_BLOCK}, sink 1 + local 1 blocks")

    def metric(self, case: str, impl_prefix: str, name: str, value: float) -> None:
        row = self.find(case, impl_prefix)
        if row is not None:
            row.metrics[name] = value

    def find(self, case: str, impl_prefix: str) -> Optional[hp.Row]:
        return next((r for r in reversed(self.report.rows)
                     if r.case == case and r.impl.startswith(impl_prefix)), None)

    def median(self, case: str, impl_prefix: str) -> float:
        row = self.find(case, impl_prefix)
        return row.timing.median_ms if row is not None and row.timing.runs else float("nan")

    def triage_case(self, block_size: int, causal: bool) -> None:
        a, ta = self.args, self.ta
        nk = -(-a.seqlen // block_size)
        topk = min(max(round(a.density * nk), 1), nk)
        case = (f"bs{block_size} topk {topk}/{nk}{' causal' if causal else ''} B{a.batch} "
                f"H{a.heads}/{a.heads_kv} S{a.seqlen} D{a.head_dim}")
        print(f"case {case}", file=sys.stderr)
        dense_flops = 4.0 * a.head_dim * hp.useful_pairs(a.seqlen, a.seqlen, ba.Q_BLOCK, ba.Q_BLOCK,
                                                         causal, batch=a.batch, heads_q=a.heads)
        gqa = a.heads != a.heads_kv
        for name, backend in (("cuDNN", SDPBackend.CUDNN_ATTENTION),
                              ("flash", SDPBackend.FLASH_ATTENTION)):
            def sdpa(backend=backend):
                with sdpa_kernel(backend):
                    return F.scaled_dot_product_attention(self.q, self.k, self.v,
                                                          is_causal=causal, enable_gqa=gqa)
            self.run(case, f"torch SDPA {name} (dense)", sdpa, dense_flops)
        if ta is None:
            return

        def select():
            return ta.triage(self.q, self.k, block_size, topk, causal=causal)

        indices, counts = select()
        flops = 4.0 * a.head_dim * hp.useful_pairs(a.seqlen, a.seqlen, block_size, ba.Q_BLOCK,
                                                   causal, pattern=(indices, counts),
                                                   heads_q=a.heads)
        self.run_ours(case, "triage (selection only)", lambda: select()[0], 0.0)
        self.find(case, "TriageAttention triage").metrics.pop("useful TFLOP/s", None)
        given = self.run_ours(case, "block_sparse_attention (given the pattern)",
                              lambda: ta.block_sparse_attention(self.q, self.k, self.v, indices,
                                                                counts, block_size,
                                                                causal=causal), flops)
        fused = self.run_ours(case, "sparse_attention (triage + attention)",
                              lambda: ta.sparse_attention(self.q, self.k, self.v,
                                                          block_size=block_size, topk=topk,
                                                          causal=causal), flops)
        if given is not None and fused is not None and not torch.equal(given, fused):
            self.failed = True
            self.find(case, "TriageAttention sparse_attention").notes += " WRONG RESULT"
            print("!!!!! sparse_attention differs from block_sparse_attention on its own "
                  "pattern", file=sys.stderr)
        selection_ms = self.median(case, "TriageAttention triage")
        attention_ms = self.median(case, "TriageAttention block_sparse")
        self.metric(case, "TriageAttention triage", "share of attention time",
                    selection_ms / attention_ms)
        self.metric(case, "TriageAttention sparse_attention", "speedup vs cuDNN",
                    self.median(case, "torch SDPA cuDNN") / self.median(
                        case, "TriageAttention sparse_attention"))
        heads = min(RECALL_HEADS, a.heads)
        group = a.heads // a.heads_kv
        recall = ta.attention_mass_recall(
            self.q[:1, :heads], self.k[:1, :-(-heads // group)], indices[:1, :-(-heads // group)],
            counts[:1, :-(-heads // group)], block_size, causal=causal)
        self.metric(case, "TriageAttention triage", "mass recall (b0 h0-3)",
                    float(recall.mean()))

    def planted_case(self, block_size: int, planted: int = 4) -> None:
        """For every (head, query block) `planted` key blocks share a strong direction with the
        query block; reports the share of them the selection keeps (must be 1)."""
        a, ta = self.args, self.ta
        if ta is None or a.seqlen % ba.Q_BLOCK:
            return
        S, D, H = a.seqlen, a.head_dim, RECALL_HEADS
        nq, nk = -(-S // ba.Q_BLOCK), -(-S // block_size)
        topk = min(max(round(a.density * nk), planted + 2), nk)
        gen = torch.Generator(device=self.device).manual_seed(a.seed + block_size)
        q = torch.randn((1, H, S, D), generator=gen, device=self.device) * 0.3
        k = torch.randn((1, H, S, D), generator=gen, device=self.device) * 0.3
        dirs = torch.nn.functional.normalize(
            torch.randn((H, nq, D), generator=gen, device=self.device), dim=-1) * 4.0
        # Distinct key blocks (never the sink, block 0) for each query block of a head.
        chosen = torch.rand((H, nq, nk - 1), generator=gen,
                            device=self.device).argsort(-1)[..., :planted] + 1
        q.view(1, H, nq, ba.Q_BLOCK, D)[0] += dirs[:, :, None, :]
        key_dirs = torch.zeros((H, nk, D), device=self.device)
        key_dirs.scatter_add_(1, chosen.reshape(H, -1, 1).expand(-1, -1, D),
                              dirs.repeat_interleave(planted, dim=1))
        k += key_dirs.repeat_interleave(block_size, dim=1)[None, :, :S]
        q, k = q.to(a.dtype), k.to(a.dtype)
        indices, counts = ta.triage(q, k, block_size, topk)
        selected = torch.zeros((H, nq, nk + 1), dtype=torch.bool, device=self.device)
        valid = torch.arange(indices.shape[-1], device=self.device) < counts[0, ..., None]
        selected.scatter_(2, torch.where(valid, indices[0], nk).long(), valid)
        found = float(selected.gather(2, chosen).float().mean())
        case = f"planted bs{block_size} topk {topk}/{nk} H{H} S{S} D{D}"
        row = hp.Row(self.name, case, "TriageAttention triage",
                     metrics={"planted blocks found": found},
                     notes=f"{planted} planted key blocks per query block")
        self.report.add(row)
        if found < 1.0:
            self.failed = True
            print(f"!!!!! planted recall {found:.4f} < 1 on {case}", file=sys.stderr)


def run_cases(suite: TriageSuite, args: argparse.Namespace) -> None:
    for bs in args.bs:
        for causal in (False, True):
            suite.triage_case(bs, causal)
        suite.planted_case(bs)


def main(argv: Optional[List[str]] = None) -> int:
    return hp.run_suite_main(argv, parse_args, TriageSuite, run_cases)


if __name__ == "__main__":
    sys.exit(main())
