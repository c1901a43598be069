#!/usr/bin/env bash
# Session 10, device call 4 (carry ["third_party"]; never run: no machine came): where the
# selection's time goes. A one-config build with select_trace.patch (the session-9 decode trace
# plus stamps along each selection CTA's chain: copies issued, summaries landed, scored, cluster
# barrier, and rank 0's counters, select and writes), then the trace and select_phases.py.
R=$PWD; L=$OUT/logs; H=$R/docs/results/2026-12-06-h100-session10; mkdir -p $L
source scripts/ab_tree.sh
patched_copy $R/build/src_t $H/select_trace.patch
one_config_build $R/build/src_t $R/build/site_t 64 > $L/build_t.log 2>&1 || tail -n 30 $L/build_t.log
PYTHONPATH=$R/build/site_t timeout 60 python3 docs/results/2026-12-06-h100-session9/trace_decode.py \
  > $L/decode_trace.txt 2>&1
python3 $H/select_phases.py $L/decode_trace.txt | tee $L/select_phases.txt
