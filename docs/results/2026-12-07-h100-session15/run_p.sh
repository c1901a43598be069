#!/usr/bin/env bash
# Session 15, second device call (from the repository root, carry ["third_party"], ~380 s):
#   bash docs/results/2026-12-07-h100-session15/run_p.sh
# The first call (session 14's next_run.sh) found that x, m and b lose, and select_phases.cu
# that one plain shared atomic per key is the cheapest histogram add. This call measures that
# form, p = ../2026-12-06-h100-session13/cand_p.patch, against this tree a:
# 1. Full build of p (its tests), one-config builds of a and p, select_bench.cu against p.
# 2. A/B round 1 (a, p); the full C++, Python and sanitizer suite on p; A/B round 2 (p, a).
# Every step packs $OUT/results.tgz. Land p only if its suite passes and it does not lose at
# sparse B8/32k or on the dense rows (it also removes code: the matches and their comment).
# p landed after this run (commit ea45b18), so on later trees its patch no longer applies.
R=$PWD; S13=$R/docs/results/2026-12-06-h100-session13
source scripts/ab_tree.sh
ab_run_start
patched_copy $R/build/src_p $S13/cand_p.patch
full_build $R/build/src_p p &
one_config_build $R/build/src_p $R/build/site_p 64 > $L/build_p.log 2>&1 &
one_config_build $R $R/build/site_a 64 > $L/build_a.log 2>&1 &
nvcc -arch=sm_90a -O3 -std=c++17 -I $R/build/src_p/csrc -I include -o $OUT/select_bench_p \
  $S13/select_bench.cu && $OUT/select_bench_p > $L/select_bench_p.txt 2>&1
rm -f $OUT/select_bench_p
wait
stamp builds
tail -n 1 $L/full_build_p.txt
pack
decode_ab_round 1 $L $R/build/site_a $R/build/site_p
stamp "round 1"
pack
(cd $R/build/src_p && STEPS="cpp python sanitize" LOG_DIR=$L/full_p bash scripts/gpu_check.sh \
  2>&1 | tail -n 7 > $L/suite_p.txt)
stamp suite
pack
decode_ab_round 2 $L $R/build/site_p $R/build/site_a
stamp "all done"
pack
cat $L/suite_p.txt
grep "rep 2" $L/select_bench_p.txt
cut -c1-150 $L/decode_ab.txt $L/decode_dense_ab.txt
grep -E " B  8 ctx  32768 filled  32768| B  1 ctx 131072" $L/select_ab.txt
