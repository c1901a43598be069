#!/usr/bin/env bash
# Session 13's second device call, from the repository root, with carry ["third_party"]:
#   bash docs/results/2026-12-06-h100-session13/run2.sh
# Lean: the session's device time was nearly spent on refused starts.
# 1. select_phases.cu: per-pass cycles of the radix select (shared atomics aggregated by
#    __match_any_sync, plain atomics, lane 0's digit aggregated, none), and the whole
#    cta_select_topk against warp 0's warp_select_topk, warm code.
# 2. Candidate x (cand_x.patch: the lanes holding lane 0's digit add once through lane 0, the
#    others one atomicAdd each, no __match_any_sync): full build (tests) and one-config builds
#    of this tree (a) and x, in parallel; one A/B round of the decode benchmarks; then on x
#    ctest Decode*, test_decode.py and memcheck on Decode*. cand_p.patch (plain atomics) and
#    cand_w.patch (warp 0 alone selects) were prepared and left out for time: select_phases
#    times their variants of the select.
# Every step packs $OUT/results.tgz.
R=$PWD; L=$OUT/logs; H=$R/docs/results/2026-12-06-h100-session13; mkdir -p $L
pack() { tar czf $OUT/results.tgz -C $OUT logs; }
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader > $L/device.txt
source scripts/ab_tree.sh
start=$(date +%s)
patched_copy $R/build/src_x $H/cand_x.patch
(cd $R/build/src_x && STEPS="build" LOG_DIR=$L/full_x bash scripts/gpu_check.sh > $L/full_build_x.txt 2>&1) &
one_config_build $R/build/src_x $R/build/site_x 64 > $L/build_x.log 2>&1 &
one_config_build $R $R/build/site_a 64 > $L/build_a.log 2>&1 &
nvcc -arch=sm_90a -O3 -std=c++17 -I csrc -o $OUT/select_phases $H/select_phases.cu && \
  $OUT/select_phases > $L/select_phases.txt 2>&1
rm -f $OUT/select_phases
pack
wait
echo "builds: $(( $(date +%s) - start )) s" | tee $L/times.txt
pack
decode_ab_round 1 $L $R/build/site_x $R/build/site_a
pack
cd $R/build/src_x
timeout 60 ctest --test-dir build/gpu -R "Decode" --output-on-failure -j 4 > $L/ctest_x.txt 2>&1
echo "ctest x rc=$? $(grep 'tests passed' $L/ctest_x.txt)" | tee -a $L/times.txt
timeout 90 python3 -m pytest tests/python/test_decode.py -q -x > $L/pytest_x.txt 2>&1
echo "pytest x rc=$? $(tail -n 1 $L/pytest_x.txt)" | tee -a $L/times.txt
pack
timeout 90 compute-sanitizer --tool memcheck --error-exitcode 1 build/gpu/tests/triageattention_tests \
  --gtest_filter='Decode*' --gtest_brief=1 > $L/memcheck_x.txt 2>&1
echo "memcheck x rc=$? $(grep 'ERROR SUMMARY' $L/memcheck_x.txt)" | tee -a $L/times.txt
echo "all done: $(( $(date +%s) - start )) s" | tee -a $L/times.txt
pack
cat $L/select_phases.txt
cut -c1-150 $L/decode_ab.txt
grep -E " B  8 ctx  32768 filled  32768| B  1 ctx 131072" $L/select_ab.txt
