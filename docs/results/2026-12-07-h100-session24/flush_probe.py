"""Does the L2 flush itself cost the timed run? torch reads of 32 MB (under the L2), 134 MB (sparse
decode B8/32k's selected K/V) and 1 GiB, timed by the project's harness (CUDA events, median of
50) after no flush, after zeroing 2x the L2 (the method before session 24) and after reading it.
If zeroing leaves ~50 MB of dirty lines that are written back inside the timed read, the 134 MB
read gets much faster after a read flush and the 1 GiB read only a little; the 32 MB read after
a read flush must stay at a DRAM rate (well under its no-flush, L2-served rate), or the read
flush does not evict. Run from the repository root: python3 flush_probe.py [MiB ...]."""
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.getcwd(), "benchmarks"))
import harness_py as hp  # noqa: E402

timers = {"none": (hp.Timer(), False), "write": (hp.Timer(l2_flush="write"), True),
          "read": (hp.Timer(l2_flush="read"), True)}
print("| bytes | op | flush | median ms | spread | TB/s (bytes read) |")
print("|---|---|---|---|---|---|")
# Sizes in MiB from the command line (next_run.sh: 8, well inside the L2), else run 1's three.
sizes = [int(m) << 20 for m in sys.argv[1:]] or [32 << 20, 134_217_728, 1 << 30]
for nbytes in sizes:
    x = torch.randn(nbytes // 2, device="cuda", dtype=torch.bfloat16)
    for name, op in {"amax": lambda: x.amax(),
                     "sum (fp32 accumulate)": lambda: x.sum(dtype=torch.float32)}.items():
        for flush, (timer, cold) in timers.items():
            t = timer.measure(lambda run: op(), warmup=5, runs=50, cold_l2=cold)
            print(f"| {nbytes / 1e6:.1f} MB | {name} | {flush} | {t.median_ms:.4f} | "
                  f"{t.spread:.1%} | {nbytes / t.median_ms / 1e9:.3f} |")
    del x
