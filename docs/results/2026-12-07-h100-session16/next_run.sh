#!/usr/bin/env bash
# Prepared in session 16 for the next session's first two device calls, made back to back so
# that the second finds the first's builds (from the repository root, carry ["third_party"]):
#   bash docs/results/2026-12-07-h100-session16/next_run.sh 1     # about 400 s
#   bash docs/results/2026-12-07-h100-session16/next_run.sh 2     # about 360 s
# Part 1: builds (this tree a and cand_dyn.patch in full and as one-config builds with every
# block size); the full suite on a (decode step 19 landed without a GPU run); bench_decode.py on
# a (step 19's timing); GEMM A/B round 1, bs 64 and 128 (GEMM step 12: clusters claim their items
# from a counter instead of a fixed stride).
# Part 2: dyn's GEMM tests and sanitizers; A/B round 2 in the opposite order; bs 16 and 32 once;
# per-CTA traces of a and dyn at bs 64 from builds that keep the stamps in a global buffer
# (gemm_trace_buffer*.patch: no device printf, which slowed run 1's traced build).
# A part run on a fresh machine first rebuilds what it needs. Every step packs $OUT/results.tgz.
# Land dyn only if its checks pass, every output hash equals a's, and it gains at bs 64 12.5%
# without losing more than 1% elsewhere.
R=$PWD; H=$R/docs/results/2026-12-07-h100-session16
source scripts/ab_tree.sh
ab_run_start
part=${1:-1}
if [ ! -f $R/build/src_dyn/build/gpu/tests/triageattention_tests ] || [ ! -d $R/build/site_dyn ] \
   || [ ! -d $R/build/site_a ] || [ ! -d $R/build/site_gtd ]; then
  patched_copy $R/build/src_dyn $H/cand_dyn.patch
  patched_copy $R/build/src_gta $H/gemm_trace_buffer.patch
  patched_copy $R/build/src_gtd $H/cand_dyn.patch $H/gemm_trace_buffer_dyn.patch
  for v in gta gtd; do
    one_config_build $R/build/src_$v $R/build/site_$v 64 > $L/build_$v.log 2>&1 &
  done
  full_build $R/build/src_dyn dyn &
  [ "$part" = 1 ] && full_build $R a &
  one_config_build $R $R/build/site_a "16;32;64;128" > $L/build_a.log 2>&1 &
  one_config_build $R/build/src_dyn $R/build/site_dyn "16;32;64;128" > $L/build_dyn.log 2>&1 &
  wait
  stamp builds
  tail -n 1 $L/full_build_*.txt
  pack
fi
if [ "$part" = 1 ]; then
  STEPS="cpp python sanitize" LOG_DIR=$L/full_a bash scripts/gpu_check.sh 2>&1 | tail -n 7 \
    > $L/suite_a.txt
  stamp suite
  pack
  PYTHONPATH=$R/build/site_a timeout 60 python3 benchmarks/bench_decode.py \
    --json $L/decode_a.json > $L/decode_a.md 2> $L/decode_a.err
  stamp decode
  gemm_ab_round 1 $L 64,128 $R/build/site_a $R/build/site_dyn
  stamp "round 1"
  pack
  cat $L/suite_a.txt
  grep -E "TriageAttention sparse_decode" $L/decode_a.md | cut -c1-150
else
  gemm_checks $R/build/src_dyn $L dyn
  stamp checks
  pack
  gemm_ab_round 2 $L 64,128 $R/build/site_dyn $R/build/site_a
  gemm_ab_round _small $L 16,32 $R/build/site_a $R/build/site_dyn
  stamp "round 2, bs 16 and 32"
  pack
  for v in gta gtd; do
    for d in 0.125 0.5; do
      PYTHONPATH=$R/build/site_$v timeout 120 python3 $H/trace_gemm.py --bs 64 --density $d \
        > $L/gemm_trace_${v}_$d.txt 2>&1
    done
  done
  stamp traces
  pack
  cat $L/gemm_trace_*.txt
fi
cat $L/gemm_ab.txt 2>/dev/null | cut -c1-150
