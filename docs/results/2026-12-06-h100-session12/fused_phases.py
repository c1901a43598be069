# Reads trace_fused.py's output (lines "R smid cta t_kernel task kind selector t0 t1 t2", kind 0:
# score task, 1: decode task; score: t1 = scored, t2 = done, after the select for a selector;
# decode: t1 = pair ready, t2 = done) and prints each call's phases in µs from the first CTA's
# start: python3 fused_phases.py trace.txt
import statistics, sys
calls, cur = [], None
for line in open(sys.argv[1]):
    f = line.split()
    if line.startswith("CALL"):
        cur = {"name": " ".join(f[1:]), "rows": []}
        calls.append(cur)
    elif f and f[0] == "R" and cur is not None and len(f) == 10:
        cur["rows"].append([int(x) for x in f[1:]])
def stats(xs):
    if not xs: return "-"
    xs = sorted(xs)
    return f"min {xs[0]:6.1f} med {statistics.median(xs):6.1f} max {xs[-1]:6.1f} (n {len(xs)})"
for c in calls:
    rows = c["rows"]
    if not rows: continue
    base = min(r[2] for r in rows)
    us = lambda t: (t - base) / 1000.0
    score = [r for r in rows if r[4] == 0]
    sel = [r for r in score if r[5] == 1]
    dec = [r for r in rows if r[4] == 1]
    print(f"== {c['name']}: {len(set((r[0], r[1]) for r in rows))} CTAs with tasks")
    print("  CTA start        ", stats([us(r[2]) for r in rows]))
    print("  score claimed    ", stats([us(r[6]) for r in score]))
    print("  score scored     ", stats([us(r[7]) for r in score]))
    print("  select (t2 - t1) ", stats([(r[8] - r[7]) / 1000.0 for r in sel]))
    print("  pair ready       ", stats([us(r[8]) for r in sel]))
    print("  decode claimed   ", stats([us(r[6]) for r in dec]))
    print("  decode ready     ", stats([us(r[7]) for r in dec]))
    print("  decode stream    ", stats([(r[8] - r[7]) / 1000.0 for r in dec]))
    print("  decode done      ", stats([us(r[8]) for r in dec]))
    print("  kernel end        %.1f" % max(us(r[8]) for r in rows))
