# Timeline of the traced sparse_decode calls (trace_decode.py output, decode_trace.patch build):
#   python3 trace_analyze.py decode_trace.txt
# Lines are grouped into calls by the CALL markers (trace_decode.py synchronizes after each call,
# which flushes the device printf buffer). Device printf delays the decode's launch by about a
# millisecond after the selection, so the decode's stamps are given from its own first CTA start
# and the selection's from its own.
import collections
import statistics as st
import sys

calls = []
for line in open(sys.argv[1]):
    if line.startswith("CALL"):
        calls.append([])
    elif line.startswith(("SEL", "DEC")) and calls:
        calls[-1].append(line.split())


def dist(name, xs):
    xs = sorted(xs)
    print(f"  {name:28s} n={len(xs):4d} min {xs[0]:7.2f} p10 {xs[len(xs) // 10]:7.2f} "
          f"med {xs[len(xs) // 2]:7.2f} p90 {xs[9 * len(xs) // 10]:7.2f} max {xs[-1]:7.2f}")


for index, call in enumerate(calls):
    sel = [list(map(int, r[1:])) for r in call if r[0] == "SEL"]
    dec = [list(map(int, r[1:])) for r in call if r[0] == "DEC"]
    print(f"call {index}: {len(sel)} selection CTAs, {len(dec)} decode CTAs (µs)")
    if sel:
        s0 = min(r[4] for r in sel)
        dist("sel start", [(r[4] - s0) / 1e3 for r in sel])
        dist("sel scored (cluster.sync)", [(r[5] - s0) / 1e3 for r in sel])
        dist("sel end (rank 0)", [(r[6] - s0) / 1e3 for r in sel if r[0] == 0])
        dist("sel rank 0: sync to end", [(r[6] - r[5]) / 1e3 for r in sel if r[0] == 0])
    if not dec:
        continue
    d0 = min(r[5] for r in dec)
    for name, col in (("dec start", 5), ("dec after griddep wait", 6), ("dec list resolved", 7),
                      ("dec stream done", 8), ("dec exit", 10)):
        dist(name, [(r[col] - d0) / 1e3 for r in dec])
    dist("dec arrival", [(r[9] - d0) / 1e3 for r in dec if r[9]])
    dist("dec exit (last split: merge)", [(r[10] - d0) / 1e3 for r in dec if r[4] == 1])
    dist("dec stream time", [(r[8] - r[7]) / 1e3 for r in dec])
    per_sm = collections.Counter(r[3] for r in dec)
    by = collections.defaultdict(list)
    for r in dec:
        by[per_sm[r[3]]].append((r[8] - r[7]) / 1e3)
    print("  decode CTAs per SM:", dict(collections.Counter(per_sm.values())),
          "SMs used", len(per_sm), "; stream time median by CTAs on the SM:",
          {k: round(st.median(v), 2) for k, v in sorted(by.items())})
