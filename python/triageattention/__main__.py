"""python -m triageattention: the demo.

On a CUDA GPU with PyTorch: a BSR GEMM (fixed top-k random pattern) timed against cuBLAS dense
and torch's BSR @ dense, with useful TFLOP/s and the error against a float32 reference. Without
either, it says so and runs a small CPU reference demo with NumPy instead.
"""

import argparse
import statistics
import sys
import warnings

import numpy as np

from . import _C
from ._torch import torch


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m triageattention", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=8192, help="M = N = K (default 8192)")
    parser.add_argument("--block-size", type=int, nargs="+", default=[64, 16],
                        choices=(16, 32, 64, 128), help="BSR block sizes (default 64 16)")
    parser.add_argument("--density", type=float, default=0.125,
                        help="share of nonzero blocks in each block-row (default 0.125)")
    parser.add_argument("--repeats", type=int, default=30, help="timed runs per method (median)")
    args = parser.parse_args(argv)
    if not 0.0 < args.density <= 1.0:
        parser.error("--density must be in (0, 1]")
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")

    missing = _missing_gpu()
    if missing:
        print(f"GPU demo not run: {missing}.")
        print("Running the CPU reference demo instead (NumPy).\n")
        cpu_demo()
        return 0
    for bs in args.block_size:
        if args.size % bs:
            parser.error(f"--size {args.size} must be a multiple of the block size {bs}")
    gpu_demo(args.size, args.block_size, args.density, args.repeats)
    return 0


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


def _fixed_pattern(rng, rows, k_blocks, topk):
    """[rows, topk] distinct ascending column blocks per row, uniformly at random."""
    return np.sort(np.argsort(rng.random((rows, k_blocks)), axis=1)[:, :topk], axis=1)


def cpu_demo(size=256, block_size=16, density=0.25):
    rng = np.random.default_rng(0)
    rows = k_blocks = size // block_size
    topk = max(1, round(density * k_blocks))
    col = _fixed_pattern(rng, rows, k_blocks, topk).astype(np.int64)
    values = rng.standard_normal((rows * topk, block_size, block_size), dtype=np.float32)
    B = rng.standard_normal((size, size), dtype=np.float32)
    C = np.empty((size, size), dtype=np.float32)
    _C.reference_bsr_gemm(None, col, values, B, C, 1.0, 0.0)

    dense = np.zeros((rows, k_blocks, block_size, block_size))
    dense[np.repeat(np.arange(rows), topk), col.reshape(-1)] = values
    expected = dense.transpose(0, 2, 1, 3).reshape(size, size) @ B.astype(np.float64)
    err = np.abs(C - expected).max() / np.abs(expected).max()
    print(f"A {size}x{size} BSR, block {block_size}, {topk} of {k_blocks} blocks per block-row "
          f"({100 * topk / k_blocks:.1f}%), B {size}x{size} float32")
    print(f"reference_bsr_gemm vs NumPy dense matmul (float64): max relative error {err:.1e}")
    built = [f"{dt}/bs{bs}" for dt in ("float16", "bfloat16") for bs in (16, 32, 64, 128)
             if _C.bsr_gemm_is_built(dt, dt, bs)]
    print(f"GPU kernels in this build: {', '.join(built) or 'none'}")


def gpu_demo(size, block_sizes, density, repeats):
    # torch's sparse support warns (beta status, invariant checks, Triton tuning) mid-table.
    warnings.filterwarnings("ignore", category=UserWarning)
    dtype = torch.bfloat16
    device = torch.device("cuda", torch.cuda.current_device())
    torch.backends.cuda.matmul.allow_tf32 = False  # the float32 reference must be float32
    props = torch.cuda.get_device_properties(device)
    print(f"TriageAttention BSR GEMM demo on {props.name}, torch {torch.__version__}")
    print(f"C = A @ B, M = N = K = {size}, bfloat16 in and out, fixed top-k random pattern, "
          f"{density:.1%} of blocks; median of {repeats} runs, cold L2")
    print("useful TFLOP/s counts 2 * bs^2 * N per nonzero block for every method; error is "
          "max |C - ref| / max |ref| against a float32 reference\n")
    print(f"{'bs':>4}  {'method':<30} {'time ms':>9} {'useful TFLOP/s':>15} {'vs cuBLAS':>10} "
          f"{'max rel err':>12}")

    from .gemm import bsr_matmul

    # Writing a buffer twice the L2 size between runs evicts the inputs (cold L2).
    flush = torch.empty(2 * props.L2_cache_size, dtype=torch.uint8, device=device)
    gen = torch.Generator(device=device).manual_seed(0)
    B = torch.randn((size, size), generator=gen, device=device, dtype=dtype)
    for bs in block_sizes:
        if not _C.bsr_gemm_is_built("bfloat16", "bfloat16", bs):
            print(f"{bs:>4}  (skipped: this build has no bfloat16 kernel for block size {bs})")
            continue
        rows = k_blocks = size // bs
        topk = max(1, round(density * k_blocks))
        pattern = _fixed_pattern(np.random.default_rng(bs), rows, k_blocks, topk)
        col = torch.from_numpy(pattern).to(device=device, dtype=torch.int32)
        values = torch.randn((rows * topk, bs, bs), generator=gen, device=device, dtype=dtype)
        crow = torch.arange(0, rows * topk + 1, topk, device=device, dtype=torch.int32)
        sparse = torch.sparse_bsr_tensor(crow, col.reshape(-1), values, size=(size, size))
        dense = sparse.to_dense()
        ref = dense.float() @ B.float()
        flops = 2 * bs * bs * size * rows * topk

        methods = [
            ("triageattention bsr_matmul", lambda: bsr_matmul((None, col, values), B)),
            ("cuBLAS dense (torch.mm)", lambda: torch.mm(dense, B)),
            ("torch BSR @ dense", lambda: sparse @ B),
        ]
        results = []
        for name, fn in methods:
            try:
                ms = _median_ms(fn, repeats, flush)
                err = ((fn().float() - ref).abs().max() / ref.abs().max()).item()
            except RuntimeError as e:  # a peer may not support this dtype or block size
                results.append((name, None, f"unsupported: {str(e).splitlines()[0][:60]}"))
                continue
            results.append((name, ms, err))
        cublas_ms = results[1][1]
        for name, ms, err in results:
            if ms is None:
                print(f"{bs:>4}  {name:<30} {err}")
                continue
            speedup = f"{cublas_ms / ms:.2f}x" if cublas_ms else "-"
            print(f"{bs:>4}  {name:<30} {ms:>9.3f} {flops / ms / 1e9:>15.1f} {speedup:>10} "
                  f"{err:>12.1e}")
        del sparse, dense, ref


def _median_ms(fn, repeats, flush):
    for _ in range(3):
        fn()
    times = []
    for _ in range(repeats):
        flush.zero_()
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)


if __name__ == "__main__":
    sys.exit(main())
