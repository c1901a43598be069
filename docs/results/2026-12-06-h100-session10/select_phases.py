# Rank 0's steps in the decode selection, from the trace_decode.py output of a build with
# select_trace.patch (its rank-0 lines carry three more stamps):
#   python3 select_phases.py decode_trace.txt
import statistics as st
import sys

calls = []
for line in open(sys.argv[1]):
    if line.startswith("CALL"):
        calls.append([])
    elif line.startswith("SEL") and calls:
        calls[-1].append(list(map(int, line.split()[1:])))
# Fields: x y z sm, then the stamps start, after the barrier, end, before the barrier, after
# the counters are zeroed, after the select.
for i, call in enumerate(calls):
    rank0 = [r for r in call if r[0] == 0 and len(r) == 10]
    if not rank0:
        print(f"call {i}: no rank-0 lines with the extra stamps")
        continue
    first = min(r[4] for r in call)
    for name, a, b in (("start -> before cluster barrier", 4, 7), ("cluster barrier", 7, 5),
                       ("barrier -> counters zeroed", 5, 8), ("select", 8, 9),
                       ("-1 fill, count, CTA barrier", 9, 6)):
        xs = sorted((r[b] - r[a]) / 1e3 for r in rank0)
        print(f"call {i} {name:32s} med {st.median(xs):6.2f} min {xs[0]:6.2f} max {xs[-1]:6.2f} µs")
    ends = sorted((r[6] - first) / 1e3 for r in rank0)
    print(f"call {i} {'rank 0 done, from first start':32s} med {st.median(ends):6.2f} max {ends[-1]:6.2f} µs")
