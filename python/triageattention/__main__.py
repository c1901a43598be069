"""python -m triageattention: the main job.

On a Hopper GPU with PyTorch: attention over a long context with Llama-3-8B attention shapes
(32 query heads, 8 kv heads, head dim 128, bfloat16; 32k tokens, causal prefill by default).
triage picks the top-k key blocks of every query block on the GPU and block-sparse attention
runs over them: sparse_attention does both in one call. It is timed against dense cuDNN SDPA and
FlexAttention on the identical block mask, and the table shows time, speedup, useful TFLOP/s
(4 * D * unmasked query-key pairs), the output error against dense attention and the
attention-mass recall of the selection. Inputs are standard normal, where attention is diffuse,
so recall sits near the kept share of the keys; on real models it is far higher.

Without a GPU it says so, runs a small CPU reference of the selection rule and exits with 0.
"""

import argparse
import math
import sys
import time

import numpy as np

from . import _C
from ._torch import torch


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m triageattention", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seqlen", type=int, default=32768, help="tokens (default 32768)")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--heads", type=int, default=32, help="query heads (default 32)")
    parser.add_argument("--heads-kv", type=int, default=8, help="key/value heads (default 8)")
    parser.add_argument("--head-dim", type=int, default=128, choices=(64, 128))
    parser.add_argument("--block-size", type=int, default=64, choices=(16, 32, 64, 128),
                        help="key block size (default 64)")
    parser.add_argument("--topk", type=int,
                        help="key blocks kept per query block (default: 1/8 of the blocks)")
    parser.add_argument("--no-causal", action="store_true", help="non-causal attention")
    parser.add_argument("--no-flex", action="store_true", help="skip FlexAttention")
    parser.add_argument("--runs", type=int, default=20, help="timed runs per method (median)")
    args = parser.parse_args(argv)
    if min(args.seqlen, args.batch, args.heads, args.heads_kv, args.runs) < 1:
        parser.error("sizes and --runs must be positive")
    if args.heads % args.heads_kv:
        parser.error("--heads must be a multiple of --heads-kv")
    if args.topk is not None and args.topk < 1:
        parser.error("--topk must be at least 1")

    missing = _missing_gpu()
    if missing:
        print(f"GPU demo not run: {missing}.")
        print("Running a small CPU reference of the triage rule instead (NumPy).\n")
        cpu_demo()
        return 0
    return GpuDemo(args).run()


def _missing_gpu():
    """Why the GPU demo cannot run here, or None."""
    if torch is None:
        return "PyTorch is not installed"
    if _C.cuda_device_count() == 0 or not torch.cuda.is_available():
        return "no CUDA GPU (or no usable NVIDIA driver) was found"
    major, minor = torch.cuda.get_device_capability()
    if (major, minor) != (9, 0):
        return f"the kernels are built for Hopper (sm_90a), this GPU is sm_{major}{minor}"
    return None


def cpu_demo(seqlen=512, head_dim=32, block_size=16, topk=6, planted=3):
    """Selection on the CPU reference: planted key blocks must be found, and attention over the
    selection is compared with dense attention (float64 NumPy)."""
    from .triage import reference_triage

    rng = np.random.default_rng(0)
    q_block = 64
    nq, nk = seqlen // q_block, seqlen // block_size
    q = rng.standard_normal((1, 1, seqlen, head_dim)).astype(np.float32) * 0.5
    k = rng.standard_normal((1, 1, seqlen, head_dim)).astype(np.float32) * 0.5
    v = rng.standard_normal((seqlen, head_dim))
    chosen = []
    for i in range(nq):  # each query block shares a direction with `planted` key blocks
        blocks = rng.choice(np.arange(1, nk), size=planted, replace=False)
        direction = rng.standard_normal(head_dim).astype(np.float32)
        direction *= 4.0 / np.linalg.norm(direction)
        q[0, 0, i * q_block:(i + 1) * q_block] += direction
        for j in blocks:
            k[0, 0, j * block_size:(j + 1) * block_size] += direction
        chosen.append(set(blocks.tolist()))
    indices, counts = reference_triage(q, k, block_size, topk, q_block_size=q_block)
    found = np.mean([len(chosen[i] & set(indices[0, 0, i, :counts[0, 0, i]].tolist())) / planted
                     for i in range(nq)])

    scores = q[0, 0].astype(np.float64) @ k[0, 0].T.astype(np.float64) / math.sqrt(head_dim)
    p = np.exp(scores - scores.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    keep = np.zeros((seqlen, seqlen), bool)
    for i in range(nq):
        for j in indices[0, 0, i, :counts[0, 0, i]]:
            keep[i * q_block:(i + 1) * q_block, j * block_size:(j + 1) * block_size] = True
    recall = (p * keep).sum(axis=1).mean()
    sparse_p = np.where(keep, p, 0.0)
    sparse_p /= sparse_p.sum(axis=1, keepdims=True)
    error = np.abs(sparse_p @ v - p @ v).max() / np.abs(p @ v).max()
    print(f"{seqlen} tokens, head dim {head_dim}, key blocks of {block_size}, query blocks of "
          f"{q_block}, top {topk} of {nk} blocks kept ({100 * topk / nk:.1f}%)")
    print(f"planted key blocks found by reference_triage: {100 * found:.1f}%")
    print(f"attention-mass recall of the selection: {100 * recall:.1f}%")
    print(f"attention over the selection vs dense (float64): max relative error {error:.2e}")


class GpuDemo:
    def __init__(self, args):
        from . import measure

        self.args = args
        self.measure = measure
        self.device = torch.device("cuda", torch.cuda.current_device())
        self.timer = measure.Timer(self.device)
        self.causal = not args.no_causal
        self.nk = -(-args.seqlen // args.block_size)
        self.topk = min(args.topk or max(1, round(self.nk / 8)), self.nk)
        self.started = time.perf_counter()
        self.step_index = 0
        self.steps = 5 if args.no_flex else 6

    def step(self, what):
        self.step_index += 1
        print(f"[{self.step_index}/{self.steps} {time.perf_counter() - self.started:6.1f} s] "
              f"{what}", file=sys.stderr, flush=True)

    def time_ms(self, fn):
        return self.timer.measure(lambda run: fn(), warmup=3, runs=self.args.runs).median_ms

    def run(self):
        import triageattention as ta

        a = self.args
        torch.backends.cuda.matmul.allow_tf32 = False  # the recall reference is float32
        props = torch.cuda.get_device_properties(self.device)
        print(f"TriageAttention demo on {props.name}, torch {torch.__version__}")
        print(f"q [{a.batch}, {a.heads}, {a.seqlen}, {a.head_dim}], k/v with {a.heads_kv} heads, "
              f"bfloat16, {'causal' if self.causal else 'non-causal'}; key blocks of "
              f"{a.block_size}, top {self.topk} of {self.nk} per query block of 128 "
              f"({100 * self.topk / self.nk:.1f}%); median of {a.runs} runs, cold L2\n")

        self.step("inputs")
        gen = torch.Generator(device=self.device).manual_seed(0)
        q, k, v = (torch.randn((a.batch, h, a.seqlen, a.head_dim), generator=gen,
                               device=self.device, dtype=torch.bfloat16)
                   for h in (a.heads, a.heads_kv, a.heads_kv))

        self.step("triage + sparse attention (sparse_attention)")
        options = dict(block_size=a.block_size, topk=self.topk, causal=self.causal)
        out, pattern = ta.sparse_attention(q, k, v, return_pattern=True, **options)
        rows = {"TriageAttention sparse_attention": self.time_ms(
            lambda: ta.sparse_attention(q, k, v, **options))}
        rows["  of which triage (selection)"] = self.time_ms(
            lambda: ta.triage(q, k, a.block_size, self.topk, causal=self.causal))
        sparse_pairs = self.measure.useful_pairs(a.seqlen, a.seqlen, a.block_size, 128,
                                                 self.causal, pattern=pattern, heads_q=a.heads)
        dense_pairs = self.measure.useful_pairs(a.seqlen, a.seqlen, 128, 128, self.causal,
                                                batch=a.batch, heads_q=a.heads)

        self.step("dense attention: torch SDPA, cuDNN backend")
        from torch.nn.attention import SDPBackend, sdpa_kernel

        def sdpa():
            with sdpa_kernel(SDPBackend.CUDNN_ATTENTION):
                return torch.nn.functional.scaled_dot_product_attention(
                    q, k, v, is_causal=self.causal, enable_gqa=a.heads != a.heads_kv)

        dense = sdpa()  # Sq == Sk: SDPA's top-left causal alignment is ours
        rows["torch SDPA cuDNN (dense)"] = self.time_ms(sdpa)
        flex_out = None
        if not a.no_flex:
            self.step("FlexAttention on the identical block mask (compiling)")
            flex_out, rows["FlexAttention (same mask)"] = self.flex(q, k, v, pattern)

        self.step("accuracy and attention-mass recall (dense float32 on 4 heads)")
        heads = min(4, a.heads)
        kv_heads = -(-heads // (a.heads // a.heads_kv))
        recall = float(ta.attention_mass_recall(
            q[:1, :heads], k[:1, :kv_heads], pattern[0][:1, :kv_heads],
            pattern[1][:1, :kv_heads], a.block_size, causal=self.causal).mean())
        error = (out.float() - dense.float()).abs()
        flex_gap = (None if flex_out is None
                    else float((out.float() - flex_out.float()).abs().max()))

        self.step("done")
        cudnn = rows["torch SDPA cuDNN (dense)"]
        print(f"\n{'method':<36} {'time ms':>9} {'useful TFLOP/s':>15} {'speedup vs cuDNN':>17}")
        for name, ms in rows.items():
            if ms is None:
                print(f"{name:<36} {'(failed: see the message above)':>43}")
                continue
            selection = name.startswith("  of which")
            pairs = dense_pairs if "dense" in name else sparse_pairs
            tflops = "" if selection else f"{4.0 * a.head_dim * pairs / ms / 1e9:15.1f}"
            speedup = "" if selection else f"{cudnn / ms:16.2f}x"
            print(f"{name:<36} {ms:9.3f} {tflops:>15} {speedup:>17}")
        print(f"\nsparse vs dense output: max abs error {float(error.max()):.3e}, mean abs error "
              f"{float(error.mean()):.3e} (the approximation: {100 * self.topk / self.nk:.1f}% of "
              "the key blocks kept)")
        if flex_gap is not None:
            print(f"TriageAttention vs FlexAttention on the same mask: max abs difference "
                  f"{flex_gap:.3e}")
        print(f"attention-mass recall of the selection (batch 0, heads 0-{heads - 1}): "
              f"{100 * recall:.1f}%")
        share = rows["  of which triage (selection)"] / rows["TriageAttention sparse_attention"]
        print(f"selection share of sparse_attention time: {100 * share:.1f}%")
        return 0

    def flex(self, q, k, v, pattern):
        """(output, median ms) of compiled flex_attention on the pattern's block mask, or
        (None, None) with the reason printed when Flex refuses it."""
        import triageattention as ta
        from torch.nn.attention.flex_attention import flex_attention

        a = self.args
        mask_mod = ta.causal_mask_mod(a.seqlen, a.seqlen) if self.causal else None
        block_mask = ta.block_mask_from_pattern(*pattern, a.block_size, 128, a.seqlen, a.seqlen,
                                                heads_q=a.heads, mask_mod=mask_mod)
        compiled = torch.compile(flex_attention, dynamic=False)
        gqa = a.heads != a.heads_kv
        attempts = ({}, {"kernel_options": {"BLOCK_N": a.block_size}})
        for extra in attempts:
            def call(extra=extra):
                return compiled(q, k, v, block_mask=block_mask, enable_gqa=gqa, **extra)
            try:
                return call(), self.time_ms(call)
            except Exception as e:  # Flex refuses some block sizes; retry, then report
                reason = " ".join(str(e).split())[:200]
        print(f"FlexAttention refused this configuration: {reason}", file=sys.stderr)
        return None, None


if __name__ == "__main__":
    sys.exit(main())
