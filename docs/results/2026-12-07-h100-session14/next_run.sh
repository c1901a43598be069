#!/usr/bin/env bash
# Prepared in session 14 (which had no device run: every start was refused) for the next
# session's first device call, from the repository root, with carry ["third_party"], about 560 s:
#   bash docs/results/2026-12-07-h100-session14/next_run.sh
# Session 13's two prepared calls in one, since a session now gets about one call:
#   x  = ../2026-12-06-h100-session13/cand_x.patch (the select's histogram adds without
#        __match_any_sync; OPTIMIZATION_LOG decode step 16),
#   m  = ../2026-12-06-h100-session13/cand_m.patch (2-8 splits of a row block merge in a cluster
#        through DSMEM; decode step 17),
#   xm = both (disjoint files), a = this tree,
#   b  = cand_b.patch here (one-tile rows find the select's threshold by a bitonic sort instead of
#        radix passes; OPTIMIZATION_LOG, session 14's design; conflicts with x).
# 1. Full build of xm (tests); one-config builds of a, x, m, xm, b; meanwhile select_phases.cu,
#    and select_bench.cu against a, x and b (it checks every CTA's selection against a sort).
# 2. A/B round 1 over xm, x, m, b, a (sparse, dense and select_times rows).
# 3. On xm: ctest Decode* and Triage*, test_decode.py and test_triage.py, memcheck on both;
#    racecheck and synccheck on Decode.ManySplits* (both merge forms) and Decode.OtherPageSizes*.
# 4. A/B round 2 over a, b, xm (the order reversed; x and m alone are left out for time).
# Every step packs $OUT/results.tgz. Land xm (or the part that gains) only if step 3 passed and it
# beats a by more than 1% at sparse B8/32k without losing on the dense rows. b is not tested
# here beyond select_bench: if it gains, the full suite runs on it before it lands.
# Run in session 15. cand_p landed after it (ea45b18), and x and b no longer apply on later trees.
R=$PWD; S13=$R/docs/results/2026-12-06-h100-session13
H=$R/docs/results/2026-12-07-h100-session14
source scripts/ab_tree.sh
ab_run_start
patched_copy $R/build/src_x $S13/cand_x.patch
patched_copy $R/build/src_m $S13/cand_m.patch
patched_copy $R/build/src_xm $S13/cand_x.patch $S13/cand_m.patch
patched_copy $R/build/src_b $H/cand_b.patch
full_build $R/build/src_xm xm &
for v in x m xm b; do
  one_config_build $R/build/src_$v $R/build/site_$v 64 > $L/build_$v.log 2>&1 &
done
one_config_build $R $R/build/site_a 64 > $L/build_a.log 2>&1 &
nvcc -arch=sm_90a -O3 -std=c++17 -I csrc -I include -o $OUT/select_phases $S13/select_phases.cu && \
  $OUT/select_phases > $L/select_phases.txt 2>&1
for v in a x b; do
  inc=$R/csrc; [ $v != a ] && inc=$R/build/src_$v/csrc
  def=; [ $v = b ] && def=-DSELECT_EXCHANGE
  nvcc -arch=sm_90a -O3 -std=c++17 $def -I $inc -I include -o $OUT/select_bench_$v \
    $S13/select_bench.cu && \
    $OUT/select_bench_$v > $L/select_bench_$v.txt 2>&1
done
rm -f $OUT/select_phases $OUT/select_bench_*
pack
wait
stamp builds
tail -n 1 $L/full_build_xm.txt
pack
decode_ab_round 1 $L $R/build/site_xm $R/build/site_x $R/build/site_m $R/build/site_b \
  $R/build/site_a
stamp "round 1"
pack
decode_triage_checks $R/build/src_xm $L xm
split_merge_race_checks $R/build/src_xm $L xm
stamp checks
pack
decode_ab_round 2 $L $R/build/site_a $R/build/site_b $R/build/site_xm
stamp "all done"
pack
cat $L/select_phases.txt
grep "rep 2" $L/select_bench_*.txt
cut -c1-150 $L/decode_ab.txt $L/decode_dense_ab.txt
grep -E " B  8 ctx  32768 filled  32768| B  1 ctx 131072" $L/select_ab.txt
