# Timeline of one traced sparse_decode call (trace_decode.py output, decode_trace.patch build):
#   python3 trace_analyze.py decode_trace.txt [call index, default the last]
import sys, collections, statistics as st
# Device printf reaches stdout through C stdio buffers, so the lines are grouped into calls by
# time (the calls are 50 ms apart), not by the CALL markers.
rows = [ln.split() for ln in open(sys.argv[1]) if ln.startswith(("SEL", "DEC"))]
start = lambda r: int(r[5] if r[0] == "SEL" else r[6])
rows.sort(key=start)
calls, last = [], None
for r in rows:
    if last is None or start(r) - last > 1_000_000: calls.append([])
    calls[-1].append(r)
    last = start(r)
print(f"{len(calls)} calls traced")
call = calls[int(sys.argv[2]) if len(sys.argv) > 2 else -1]
sel = [list(map(int, r[1:])) for r in call if r[0] == "SEL"]
dec = [list(map(int, r[1:])) for r in call if r[0] == "DEC"]
t0 = min(min(r[4] for r in sel), min(r[5] for r in dec))
us = lambda t: (t - t0) / 1000
def dist(name, xs):
    xs = sorted(xs)
    print(f"{name:34s} n={len(xs):4d} min {xs[0]:7.2f} p10 {xs[len(xs)//10]:7.2f} med {xs[len(xs)//2]:7.2f} "
          f"p90 {xs[9*len(xs)//10]:7.2f} max {xs[-1]:7.2f}")
print(f"selection CTAs {len(sel)}, decode CTAs {len(dec)}")
dist("sel start", [us(r[4]) for r in sel])
dist("sel scored (cluster.sync)", [us(r[5]) for r in sel])
dist("sel end (rank0)", [us(r[6]) for r in sel if r[6] != r[5]])
dist("dec start", [us(r[5]) for r in dec])
dist("dec after griddep wait", [us(r[6]) for r in dec])
dist("dec list resolved", [us(r[7]) for r in dec])
dist("dec stream done", [us(r[8]) for r in dec])
dist("dec arrival", [us(r[9]) for r in dec if r[9]])
dist("dec exit", [us(r[10]) for r in dec])
dist("dec exit (last: combine)", [us(r[10]) for r in dec if r[4] == 1])
dist("dec stream time", [(r[8] - r[7]) / 1000 for r in dec])
dist("dec list time", [(r[7] - r[6]) / 1000 for r in dec])
per_sm = collections.Counter(r[3] for r in dec)
print("decode CTAs per SM:", collections.Counter(per_sm.values()), "SMs used", len(per_sm))
# stream time by SM occupancy
by = collections.defaultdict(list)
for r in dec: by[per_sm[r[3]]].append((r[8] - r[7]) / 1000)
for k, v in sorted(by.items()): print(f"  stream time with {k} CTA(s) on the SM: med {st.median(v):.2f} us")
