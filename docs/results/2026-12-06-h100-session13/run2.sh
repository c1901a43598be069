#!/usr/bin/env bash
# Session 13's second device call, from the repository root, with carry ["third_party"]:
#   bash docs/results/2026-12-06-h100-session13/run2.sh
# 1. select_phases.cu: per-pass cycles of the radix select (shared atomics aggregated by
#    __match_any_sync, plain atomics, lane 0's digit aggregated, none), and the whole
#    cta_select_topk against warp 0's warp_select_topk, warm code.
# 2. A/B/C of one-config builds, two rounds (decode_ab_round): this tree (a), cand_p.patch (p:
#    plain shared atomics in cta_select_topk) and cand_x.patch (x: the lanes holding lane 0's
#    digit add once through lane 0, the others plain). cand_w.patch (warp 0 alone selects) was
#    prepared too and is left out for time; select_phases times its select.
# 3. If the faster of p and x beats a at B8/32k by more than 1%: its full build, then ctest
#    Decode*, test_decode.py, memcheck on Decode*.
# Every step packs $OUT/results.tgz.
R=$PWD; L=$OUT/logs; H=$R/docs/results/2026-12-06-h100-session13; mkdir -p $L
pack() { tar czf $OUT/results.tgz -C $OUT logs; }
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader > $L/device.txt
nvcc -arch=sm_90a -O3 -std=c++17 -I csrc -o $OUT/select_phases $H/select_phases.cu && \
  $OUT/select_phases | tee $L/select_phases.txt
rm -f $OUT/select_phases
pack
source scripts/ab_tree.sh
start=$(date +%s)
for v in p x; do
  patched_copy $R/build/src_$v $H/cand_$v.patch
  one_config_build $R/build/src_$v $R/build/site_$v 64 > $L/build_$v.log 2>&1 &
done
one_config_build $R $R/build/site_a 64 > $L/build_a.log 2>&1 &
wait
echo "builds: $(( $(date +%s) - start )) s" | tee $L/times.txt
pack
for r in 1 2; do decode_ab_round $r $L $R/build/site_p $R/build/site_x $R/build/site_a; pack; done
v=$(awk -F'|' '$2 ~ /B8 / {t[substr($1, 1, 1)] += $4}
  END {w = t["p"] <= t["x"] ? "p" : "x"; print t[w] < 0.99 * t["a"] ? w : "none"}' $L/decode_ab.txt)
echo "tests on: $v" | tee -a $L/times.txt
[ $v != none ] && {
  cd $R/build/src_$v
  STEPS="build" LOG_DIR=$L/full_$v bash scripts/gpu_check.sh > $L/full_build_$v.txt 2>&1
  timeout 60 ctest --test-dir build/gpu -R "Decode" --output-on-failure -j 4 > $L/ctest_$v.txt 2>&1
  echo "ctest $v rc=$?" | tee -a $L/times.txt
  timeout 90 python3 -m pytest tests/python/test_decode.py -q -x > $L/pytest_$v.txt 2>&1
  echo "pytest $v rc=$? $(tail -n 1 $L/pytest_$v.txt)" | tee -a $L/times.txt
  timeout 90 compute-sanitizer --tool memcheck --error-exitcode 1 build/gpu/tests/triageattention_tests \
    --gtest_filter='Decode*' --gtest_brief=1 > $L/memcheck_$v.txt 2>&1
  echo "memcheck $v rc=$? $(grep 'ERROR SUMMARY' $L/memcheck_$v.txt)" | tee -a $L/times.txt
  pack
}
cd $R
echo "all done: $(( $(date +%s) - start )) s" | tee -a $L/times.txt
cut -c1-150 $L/decode_ab.txt
grep -E " B  8 ctx  32768 filled  32768| B  1 ctx 131072" $L/select_ab.txt
