"""Per-kernel GPU time of one TriageAttention call, from the torch profiler (no Nsight needed).

    python3 scripts/profile/kernel_times.py triage          # S=16384, H=32, D=128, bs 64, topk 32
    python3 scripts/profile/kernel_times.py sparse_decode   # B8, Hq 32/Hkv 8, 32k, page 64, topk 64
    python3 scripts/profile/kernel_times.py dense_decode    # the same cache, topk = every page
    python3 scripts/profile/kernel_times.py dense_decode_4k # B8 at 4k, topk = every page: the
                                                            # bytes sparse_decode selects
    python3 scripts/profile/kernel_times.py sparse_attention
    python3 scripts/profile/kernel_times.py block_sparse_16 # S=16384, H=32, D=128, random 12.5%
                                                            # of 16-token blocks (also _32, _64,
                                                            # _128)
    python3 scripts/profile/kernel_times.py block_sparse_16_runs8  # 16-token blocks selected in
                                                            # runs of 8: the keys of _128's case
    python3 scripts/profile/kernel_times.py bsr_matmul_topk       # 8192^3, bs 64, 16 of 128 blocks
    python3 scripts/profile/kernel_times.py bsr_matmul_torch_bsr  # the same as torch.sparse_bsr

Runs the call a few times to warm up, then `--runs` times under the profiler, and prints each
kernel's mean time per call: where the time of a multi-kernel op goes, before reaching for ncu.
"""

import argparse
import collections
import statistics
import warnings

import torch
from torch.profiler import ProfilerActivity, profile

import triageattention as ta
from triageattention.measure import L2_FLUSHES, Timer


def workloads(gen):
    def randn(*shape):
        return torch.randn(*shape, generator=gen, device="cuda", dtype=torch.bfloat16)

    def triage():
        q, k = randn(1, 32, 16384, 128), randn(1, 32, 16384, 128)
        return lambda: ta.triage(q, k, 64, 32)

    def sparse_attention():
        q, k, v = randn(1, 32, 16384, 128), randn(1, 32, 16384, 128), randn(1, 32, 16384, 128)
        return lambda: ta.sparse_attention(q, k, v, block_size=64, topk=32)

    def block_sparse(block, run=1):
        # 12.5% of the key blocks per row, chosen at random in runs of `run` adjacent blocks.
        seqlen = 16384
        q, k, v = (randn(1, 32, seqlen, 128) for _ in range(3))
        rows, runs = seqlen // 128, seqlen // (block * run)
        scores = torch.rand(1, 32, rows, runs, generator=gen, device="cuda")
        first = scores.argsort(-1)[..., : runs // 8].sort(-1).values * run
        indices = (first[..., None] + torch.arange(run, device="cuda")).flatten(-2)
        indices = indices.to(torch.int32).contiguous()
        counts = torch.full((1, 32, rows), indices.shape[-1], dtype=torch.int32, device="cuda")
        return lambda: ta.block_sparse_attention(q, k, v, indices, counts, block)

    def decode(fraction, context=32768):
        batch = 8
        cache = ta.PagedKVCache(batch, context, 8, 128, page_size=64, dtype=torch.bfloat16)
        for _ in range(context // 4096):
            cache.append(randn(batch, 8, 4096, 128), randn(batch, 8, 4096, 128))
        q = randn(batch, 32, 1, 128)
        return lambda: ta.sparse_decode(q, cache, context // 64 // fraction)

    def bsr_matmul(torch_bsr):
        # 8192^3, 64-blocks, 16 of 128 per block-row at random (bench_gemm.py's 12.5% case), as
        # the fixed top-k form or as a torch.sparse_bsr tensor (the general form: row order first).
        size, bs, topk = 8192, 64, 16
        rows = size // bs
        cols = torch.rand(rows, rows, generator=gen, device="cuda").argsort(-1)[:, :topk]
        cols = cols.sort(-1).values.to(torch.int32).contiguous()
        values, b = randn(rows * topk, bs, bs), randn(size, size)
        if not torch_bsr:
            return lambda: ta.bsr_matmul((None, cols, values), b)
        crow = torch.arange(0, rows + 1, dtype=torch.int32, device="cuda") * topk
        warnings.filterwarnings("ignore", message="Sparse BSR tensor support is in beta")
        a = torch.sparse_bsr_tensor(crow, cols.reshape(-1), values, size=(size, size))
        return lambda: ta.bsr_matmul(a, b)

    return {"triage": triage, "sparse_attention": sparse_attention,
            "sparse_decode": lambda: decode(8), "dense_decode": lambda: decode(1),
            "dense_decode_4k": lambda: decode(1, 4096),
            **{f"block_sparse_{b}": (lambda b=b: block_sparse(b)) for b in (16, 32, 64, 128)},
            "block_sparse_16_runs8": lambda: block_sparse(16, 8),
            "bsr_matmul_topk": lambda: bsr_matmul(False),
            "bsr_matmul_torch_bsr": lambda: bsr_matmul(True)}


def main():
    gen = torch.Generator(device="cuda").manual_seed(0)
    choices = workloads(gen)
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("workload", choices=sorted(choices))
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--l2-flush", choices=("none", *L2_FLUSHES), default="none",
                    help="empty the L2 before every call as the benchmarks do (default: calls "
                         "back to back); the flush's own kernels are left out of the table")
    ap.add_argument("--timeline", action="store_true",
                    help="also print each kernel's median start and end within a call")
    args = ap.parse_args()
    call = choices[args.workload]()
    flush = (lambda: None) if args.l2_flush == "none" else Timer(l2_flush=args.l2_flush).flush_l2
    for _ in range(3):
        flush()
        call()
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        flush()
        torch.cuda.synchronize()
    flush_kernels = {e.name for e in prof.events()
                     if e.device_type == torch.autograd.DeviceType.CUDA}
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(args.runs):
            flush()
            call()
        torch.cuda.synchronize()
    kernels = sorted((e for e in prof.events()
                      if e.device_type == torch.autograd.DeviceType.CUDA
                      and e.name not in flush_kernels), key=lambda e: e.time_range.start)
    per_kernel = collections.defaultdict(float)
    for event in kernels:
        per_kernel[event.name] += event.device_time / args.runs
    total = sum(per_kernel.values())
    print(f"{args.workload}: {total:.1f} us of kernel time per call")
    for name, us in sorted(per_kernel.items(), key=lambda kv: -kv[1]):
        print(f"{us:9.1f} us  {100 * us / total:5.1f}%  {name[:110]}")
    if args.timeline:  # a kernel may run more than once per call
        print_timeline(kernels, len(kernels) // args.runs)


def print_timeline(kernels, per_call):
    """Median start and end of each kernel of a call, from the call's first kernel start: where
    kernels overlap (programmatic dependent launch) and where the GPU sits between them."""
    calls = [kernels[i:i + per_call] for i in range(0, len(kernels) - per_call + 1, per_call)]
    print(f"timeline, median over {len(calls)} calls (us from the call's first kernel start):")
    for j in range(per_call):
        starts = [c[j].time_range.start - c[0].time_range.start for c in calls]
        ends = [c[j].time_range.end - c[0].time_range.start for c in calls]
        print(f"  start {statistics.median(starts):7.1f}  end {statistics.median(ends):7.1f}  "
              f"{calls[0][j].name[:90]}")


if __name__ == "__main__":
    main()
