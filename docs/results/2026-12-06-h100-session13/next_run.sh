#!/usr/bin/env bash
# Prepared in session 13 for the next session's first device call (session 13's second call
# never started: its device time went to refused starts), from the repository root, with carry
# ["third_party"], about 400 s:
#   bash docs/results/2026-12-06-h100-session13/next_run.sh
# The decode selection's radix select without __match_any_sync (OPTIMIZATION_LOG decode step 16).
# 1. select_phases.cu: per-pass cycles of the select with match / plain / lane-0-aggregated /
#    no adds.
# 2. select_bench.cu compiled against this tree (a) and the candidates p and x: the whole select
#    (cta_select_topk, and warp_select_topk on one warp), every CTA checked against a sort.
# 3. One-config builds of a, p (cand_p.patch: plain shared atomics) and x (cand_x.patch: lane 0's
#    digit aggregated, the others plain), and the full build of x; two A/B rounds of the decode
#    benchmarks. (cand_w.patch, warp 0 alone running warp_select_topk, was dropped from the run
#    in session 14 to fit the device time that was left.)
# 4. The fastest candidate at B8/32k, if it beats a by more than 1%: its full build (x's is
#    ready), ctest Decode* and Triage*, test_decode.py and test_triage.py, memcheck on both.
# Every step packs $OUT/results.tgz.
R=$PWD; L=$OUT/logs; H=$R/docs/results/2026-12-06-h100-session13; mkdir -p $L
pack() { tar czf $OUT/results.tgz -C $OUT logs; }
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader > $L/device.txt
source scripts/ab_tree.sh
start=$(date +%s)
for v in p x; do patched_copy $R/build/src_$v $H/cand_$v.patch; done
(cd $R/build/src_x && STEPS="build" LOG_DIR=$L/full_x bash scripts/gpu_check.sh > $L/full_build_x.txt 2>&1) &
for v in p x; do one_config_build $R/build/src_$v $R/build/site_$v 64 > $L/build_$v.log 2>&1 & done
one_config_build $R $R/build/site_a 64 > $L/build_a.log 2>&1 &
nvcc -arch=sm_90a -O3 -std=c++17 -I csrc -I include -o $OUT/select_phases $H/select_phases.cu && \
  $OUT/select_phases > $L/select_phases.txt 2>&1
for v in a p x; do
  inc=$R/csrc; [ $v != a ] && inc=$R/build/src_$v/csrc
  nvcc -arch=sm_90a -O3 -std=c++17 -I $inc -I include -o $OUT/select_bench_$v $H/select_bench.cu && \
    $OUT/select_bench_$v > $L/select_bench_$v.txt 2>&1
done
rm -f $OUT/select_phases $OUT/select_bench_*
pack
wait
echo "builds: $(( $(date +%s) - start )) s" | tee $L/times.txt
pack
for r in 1 2; do
  decode_ab_round $r $L $R/build/site_x $R/build/site_p $R/build/site_a
  pack
done
v=$(awk -F'|' '$2 ~ /B8 / {t[substr($1, 1, 1)] += $4}
  END {w = "x"; if (t["p"] < t[w]) w = "p";
       print t[w] < 0.99 * t["a"] ? w : "none"}' $L/decode_ab.txt)
echo "tests on: $v" | tee -a $L/times.txt
[ $v != none ] && {
  [ $v != x ] && (cd $R/build/src_$v && STEPS="build" LOG_DIR=$L/full_$v \
    bash scripts/gpu_check.sh > $L/full_build_$v.txt 2>&1)
  decode_triage_checks $R/build/src_$v $L $v
  pack
}
cd $R
echo "all done: $(( $(date +%s) - start )) s" | tee -a $L/times.txt
pack
cat $L/select_phases.txt
grep "rep 2" $L/select_bench_*.txt
cut -c1-150 $L/decode_ab.txt
grep -E " B  8 ctx  32768 filled  32768| B  1 ctx 131072" $L/select_ab.txt
