"""Per-CTA timeline of the BSR GEMM, from a build with gemm_trace.patch (device printf) or with
gemm_trace_buffer.patch / gemm_trace_buffer_dyn.patch (stamps in a global buffer, printed by the
launcher when TA_GEMM_TRACE is set, which this script sets): one GEMM_TRACE line per CTA with
block, SM, start, end of the first item, end, items (%globaltimer ns).

  PYTHONPATH=build/site_trace python3 trace_gemm.py [--bs 64] [--density 0.125] [--calls 4]

Each call runs after a 256 MB L2 flush. For each call it prints the kernel span, the spread of
the CTAs' end times, the time the SMs sit idle at the end (the tail), and at the end how well
each SM's rate (items per microsecond) repeats from call to call: if the rate is a property of
the SM, a static schedule leaves the fast SMs idle while the slow ones finish.
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile

import numpy as np


def run_calls(args):
    import torch
    import triageattention as ta

    torch.manual_seed(0)
    n = args.size
    bs = args.bs
    kb = n // bs
    topk = max(1, int(round(kb * args.density)))
    mb = n // bs
    cols = torch.rand(mb, kb, device="cuda").argsort(dim=1)[:, :topk]
    cols = cols.sort(dim=1).values.to(torch.int32).contiguous()
    values = torch.randn(mb * topk, bs, bs, device="cuda", dtype=torch.bfloat16)
    B = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    flush = torch.empty(256 << 20, dtype=torch.uint8, device="cuda")
    ta.bsr_matmul((None, cols, values), B)  # warm-up: module load, descriptor paths
    torch.cuda.synchronize()
    for call in range(args.calls):
        flush.zero_()
        torch.cuda.synchronize()
        print(f"CALL {call}", flush=True)
        ta.bsr_matmul((None, cols, values), B)
        torch.cuda.synchronize()
    print(f"CASE bs {bs} density {args.density} topk {topk} size {n}", flush=True)


def analyze(text):
    calls = []
    for line in text.splitlines():
        if line.startswith("CALL"):
            calls.append([])
        elif line.startswith("GEMM_TRACE") and calls:
            f = line.split()
            calls[-1].append((int(f[1]), int(f[2]), int(f[3]), int(f[4]), int(f[5]), int(f[6])))
        elif line.startswith("CASE"):
            print(line)
    rates = []
    for c, rows in enumerate(calls):
        a = np.array(rows, dtype=np.float64)
        t0 = a[:, 2].min()
        start, first, end, items = (a[:, 2] - t0) / 1e3, (a[:, 3] - t0) / 1e3, (a[:, 4] - t0) / 1e3, a[:, 5]
        span = end.max()
        busy = end - start
        idle_tail = (span - end).sum() / (span * len(end))
        print(f"call {c}: {len(rows)} CTAs, span {span:.1f} us, start max {start.max():.2f} us, "
              f"first item done median {np.median(first):.2f} us, "
              f"end min/median/max {end.min():.1f} / {np.median(end):.1f} / {span:.1f} us, "
              f"idle tail {100 * idle_tail:.1f}% of SM time, items min/max {items.min():.0f} / {items.max():.0f}")
        # Per-item time by CTA, for CTAs with the common item count (equal work).
        per_item = busy / items
        print(f"  us per item: min {per_item.min():.2f} median {np.median(per_item):.2f} "
              f"max {per_item.max():.2f}; balanced span (total busy / CTAs) "
              f"{busy.sum() / len(busy):.1f} us")
        rate = np.full(200, np.nan)
        rate[a[:, 1].astype(int)] = items / busy
        rates.append(rate)
    if len(rates) >= 2:
        r = np.array(rates)
        ok = ~np.isnan(r).any(axis=0)
        corr = np.corrcoef(r[:, ok])
        off = corr[~np.eye(len(rates), dtype=bool)]
        print(f"per-SM rate correlation between calls: min {off.min():.2f} mean {off.mean():.2f}")
        mean_rate = r[:, ok].mean(axis=0)
        order = np.argsort(mean_rate)
        sms = np.flatnonzero(ok)
        print("slowest SMs:", ", ".join(f"{sms[i]} ({mean_rate[i]:.3f}/us)" for i in order[:8]))
        print("fastest SMs:", ", ".join(f"{sms[i]} ({mean_rate[i]:.3f}/us)" for i in order[-8:]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bs", type=int, default=64)
    ap.add_argument("--density", type=float, default=0.125)
    ap.add_argument("--size", type=int, default=8192)
    ap.add_argument("--calls", type=int, default=4)
    ap.add_argument("--child", action="store_true")
    args = ap.parse_args()
    if args.child:
        run_calls(args)
        return
    # Device printf and Python's prints share stdout only when both go to one file.
    with tempfile.TemporaryFile(mode="w+") as out:
        cmd = [sys.executable, os.path.abspath(__file__), "--child", "--bs", str(args.bs),
               "--density", str(args.density), "--size", str(args.size), "--calls", str(args.calls)]
        subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, check=True,
                       env=dict(os.environ, TA_GEMM_TRACE="1"))
        out.seek(0)
        analyze(out.read())


if __name__ == "__main__":
    main()
