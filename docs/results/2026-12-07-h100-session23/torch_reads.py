"""Read-only rates of torch reductions over 134 MB (sparse decode B8/32k's selected K/V) and 1 GiB,
timed by the project's harness (cold L2, CUDA events, median of 50): do readers other than the
decode kernels reach more than ~2.4 TB/s on 134 MB? Run from the repository root."""
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.getcwd(), "benchmarks"))
import harness_py as hp  # noqa: E402

timer = hp.Timer()
print("| bytes | op | median ms | spread | read TB/s |")
print("|---|---|---|---|---|")
for nbytes in (134_217_728, 1 << 30):
    x = torch.randn(nbytes // 2, device="cuda", dtype=torch.bfloat16)
    ops = {"sum (fp32 accumulate)": lambda: x.sum(dtype=torch.float32),
           "amax": lambda: x.amax(),
           "sum over rows of 64": lambda: x.view(64, -1).sum(dim=1, dtype=torch.float32)}
    for name, op in ops.items():
        t = timer.measure(lambda run: op(), warmup=5, runs=50)
        print(f"| {nbytes / 1e6:.1f} MB | {name} | {t.median_ms:.4f} | {t.spread:.1%} | "
              f"{nbytes / t.median_ms / 1e9:.3f} |")
    del x
