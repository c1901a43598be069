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
python3 $H/select_phases.py $L/decode_trace.txt | tee $L/select_phases.txt
