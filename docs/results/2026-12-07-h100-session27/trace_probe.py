"""Probe (session 27): per-CTA phase times of sparse_decode's two kernels from the globaltimer and
clock64 stamps of trace_probe.patch, read flush before each call, median over calls. Phases in
µs from clock64 assume the H100's 1980 MHz clock (Nsight Compute saw 1.83 GHz in the decode);
the times from the call's start use the globaltimer (32 ns steps) and assume no clock.

    PYTHONPATH=build/site_t python3 docs/results/2026-12-07-h100-session27/trace_probe.py \
        [workload [read|write|none]]
"""
import os
import statistics
import sys
import tempfile

import numpy as np
import torch

sys.path.insert(0, "scripts/profile")
import kernel_times as k  # noqa: E402
from triageattention import _C  # noqa: E402
from triageattention.measure import Timer  # noqa: E402

CLOCK_MHZ = 1980.0  # clock64 ticks per µs
SELECT = ["entry", "summaries landed", "scored", "barrier waited", "cluster.sync", "rank0 selected",
          "rank0 end"]
DECODE = ["entry", "dep wait done", "list resolved", "chunk0 landed", "stream done", "partial out",
          "last-split merge start", "merge end"]


def read(path):
    a = np.fromfile(path, dtype=np.uint64).reshape(2, 8192, 8, 2).astype(np.int64)
    return a[0], a[1]


def main():
    name = sys.argv[1] if len(sys.argv) > 1 else "sparse_decode"
    call = k.workloads(torch.Generator(device="cuda").manual_seed(0))[name]()
    mode = sys.argv[2] if len(sys.argv) > 2 else "read"
    flush = (lambda: None) if mode == "none" else Timer(l2_flush=mode).flush_l2
    path = os.path.join(tempfile.mkdtemp(), "trace.bin")
    for _ in range(5):
        flush()
        call()
    torch.cuda.synchronize()
    _C._dump_trace(path)
    rows = {}
    ticks = []
    for rep in range(15):
        flush()
        torch.cuda.synchronize()
        call()
        torch.cuda.synchronize()
        _C._dump_trace(path)
        sel, dec = read(path)
        sel_used = sel[:, 0, 0] > 0
        dec_used = dec[:, 0, 0] > 0
        t0 = sel[sel_used, 0, 0].min() if sel_used.any() else dec[dec_used, 0, 0].min()
        gts = np.sort(np.unique(np.concatenate([sel[sel_used, :, 0].ravel(), dec[dec_used, :, 0].ravel()])))
        gts = gts[gts > 0]
        ticks.append(np.diff(gts).min() if len(gts) > 1 else 0)
        for kind, arr, used, names in (("select", sel, sel_used, SELECT), ("decode", dec, dec_used, DECODE)):
            a = arr[used]
            if len(a) == 0:
                continue
            rows.setdefault((kind, "CTAs", ""), []).append(len(a))
            for i, n in enumerate(names):
                g = a[:, i, 0]
                g = g[g > 0]
                if len(g) == 0:
                    continue
                us = (g - t0) / 1000.0
                for stat, v in (("min", us.min()), ("median", np.median(us)), ("max", us.max())):
                    rows.setdefault((kind, n, stat), []).append(v)
                if i > 0:  # per-CTA cycles since the previous stamp, same CTA (clock64)
                    both = (a[:, i, 0] > 0) & (a[:, i - 1, 0] > 0)
                    if both.any():
                        cyc = (a[both, i, 1] - a[both, i - 1, 1]) / CLOCK_MHZ
                        rows.setdefault((kind, n, "phase us (clock64, median CTA)"), []).append(np.median(cyc))
                        rows.setdefault((kind, n, "phase us (clock64, max CTA)"), []).append(cyc.max())
    print(f"## {name}, L2 flush {mode}: us from the first select CTA's entry (globaltimer), median of 15 calls")
    print(f"globaltimer smallest step seen: {statistics.median(ticks)} ns")
    print("| kernel | point | stat | us |")
    print("|---|---|---|---|")
    for (kind, n, stat), v in rows.items():
        print(f"| {kind} | {n} | {stat} | {statistics.median(v):.2f} |")


if __name__ == "__main__":
    main()
