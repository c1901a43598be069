# The decode selection's steps, per CTA, from the trace_decode.py output of a build with
# select_trace.patch (every SEL line carries ten stamps):
#   python3 select_phases.py decode_trace.txt
import statistics as st
import sys

calls = []
for line in open(sys.argv[1]):
    if line.startswith("CALL"):
        calls.append([])
    elif line.startswith("SEL") and calls:
        calls[-1].append(list(map(int, line.split()[1:])))
# Fields: x y z sm, then the stamps: start, after the cluster barrier (cluster.sync), end
# (rank 0), before cluster.sync, first tile's copies issued (length and table arrived), its
# summaries landed, scored, the cluster barrier's arrive/wait passed, then (rank 0 only, else
# 0) the counters zeroed and the select done; session 11's warm_trace.patch adds a fifteenth,
# rank 0's dry select done (its dry select runs from "copies issued").
STEPS = (("start -> copies issued", 4, 8), ("copies issued -> landed", 8, 9),
         ("landed -> scored", 9, 10), ("scored -> barrier wait passed", 10, 11),
         ("-> keys written, before cluster.sync", 11, 7), ("cluster.sync", 7, 5))
RANK0 = (("cluster.sync -> counters zeroed", 5, 12), ("select", 12, 13),
         ("-1 fill, count, CTA barrier", 13, 6))


def show(call_index, name, xs):
    xs = sorted(xs)
    print(f"call {call_index} {name:38s} med {st.median(xs):6.2f} min {xs[0]:6.2f} "
          f"max {xs[-1]:6.2f} µs")


for i, call in enumerate(calls):
    rows = [r for r in call if len(r) in (14, 15)]
    if not rows:
        print(f"call {i}: no lines with the select_trace.patch stamps")
        continue
    for name, a, b in STEPS:
        show(i, name, [(r[b] - r[a]) / 1e3 for r in rows])
    rank0 = [r for r in rows if r[0] == 0]
    for name, a, b in RANK0:
        show(i, "rank 0: " + name, [(r[b] - r[a]) / 1e3 for r in rank0])
    dry = [r for r in rank0 if len(r) == 15 and r[14]]
    if dry:
        show(i, "rank 0: dry select (from copies issued)", [(r[14] - r[8]) / 1e3 for r in dry])
    first = min(r[4] for r in rows)
    show(i, "rank 0 done, from the first start", [(r[6] - first) / 1e3 for r in rank0])
