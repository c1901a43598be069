#!/usr/bin/env bash
# Session 10, device call 4 (carry ["third_party"]): where rank 0's 5.9 µs after the cluster
# barrier go. A one-config build with select_trace.patch (the session-9 decode trace plus stamps
# before the cluster barrier, after the arrival zeroing and after the select), then the trace.
R=$PWD; L=$OUT/logs; H=$R/docs/results/2026-12-06-h100-session10; mkdir -p $L
rm -rf $R/build/src_t; mkdir -p $R/build/src_t
tar cf - --exclude=./build --exclude=./.git . | tar xf - -C $R/build/src_t
(cd $R/build/src_t && patch -p1 -s < $H/select_trace.patch) || echo "PATCH FAILED"
python3 -m pip install --no-build-isolation --no-deps -q --target $R/build/site_t \
  -Cbuild-dir=$R/build/site_t.bld -Ccmake.define.CUTLASS_DIR=$R/third_party/cutlass \
  -Ccmake.define.TRIAGEATTENTION_DTYPES=bf16 -Ccmake.define.TRIAGEATTENTION_HEAD_DIMS=128 \
  -Ccmake.define.TRIAGEATTENTION_Q_TILES=128 -Ccmake.define.TRIAGEATTENTION_BLOCK_SIZES=64 \
  $R/build/src_t > $L/build_t.log 2>&1 || tail -n 30 $L/build_t.log
PYTHONPATH=$R/build/site_t timeout 60 python3 docs/results/2026-12-06-h100-session9/trace_decode.py \
  > $L/decode_trace.txt 2>&1
python3 - $L/decode_trace.txt <<'PY' | tee $L/select_phases.txt
import sys, statistics as st
calls = []
for line in open(sys.argv[1]):
    if line.startswith("CALL"): calls.append([])
    elif line.startswith("SEL") and calls: calls[-1].append(list(map(int, line.split()[1:])))
for i, c in enumerate(calls):
    r0 = [r for r in c if r[0] == 0 and len(r) == 10]
    s0 = min(r[4] for r in c)
    def d(name, xs): xs = sorted(xs); print(f"call {i} {name:34s} med {st.median(xs):6.2f} min {xs[0]:6.2f} max {xs[-1]:6.2f}")
    d("start -> before cluster.sync", [(r[7] - r[4]) / 1e3 for r in r0])
    d("cluster.sync", [(r[5] - r[7]) / 1e3 for r in r0])
    d("sync -> after launch+arrivals", [(r[8] - r[5]) / 1e3 for r in r0])
    d("select", [(r[9] - r[8]) / 1e3 for r in r0])
    d("-1 fill, counts, barrier", [(r[6] - r[9]) / 1e3 for r in r0])
    d("rank 0 end (from first start)", [(r[6] - s0) / 1e3 for r in r0])
PY
