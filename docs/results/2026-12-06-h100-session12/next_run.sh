#!/usr/bin/env bash
# Prepared in session 12 for the next device call (never run: the device time was spent), from
# the repository root, with carry ["third_party"]:
#   bash docs/results/2026-12-06-h100-session12/next_run.sh
# 1. Nsight Compute on this tree's selection and decode kernels (sparse B8/32k, cold L2 in every
#    pass, source counters included): are the selection's latency-bound phases (the landing of
#    the summaries, the scoring, rank 0's select) waiting on instruction fetch ("no
#    instruction"), on barriers, on shared memory or on long scoreboards? OPTIMIZATION_LOG decode
#    steps 13-14 for why this decides the next step.
#    The same on the fused kernel of fused_decode_v2.patch (g), whose scoring and select ran 2-3x
#    slower than the same code in the selection kernel.
# 2. A/B (two rounds, one-config builds): this tree (a) against next_relaxed_arrive.patch (r:
#    the selection's early cluster arrive without its GPU-wide fence), bench_decode.py and
#    select_times.py; then the decode tests and memcheck on r.
# Every step packs $OUT/results.tgz.
R=$PWD; L=$OUT/logs; H=$R/docs/results/2026-12-06-h100-session12; mkdir -p $L
pack() { tar czf $OUT/results.tgz -C $OUT logs; }
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader > $L/device.txt
source scripts/ab_tree.sh
patched_copy $R/build/src_r $H/next_relaxed_arrive.patch
patched_copy $R/build/src_g $H/fused_decode_v2.patch
start=$(date +%s)
(cd $R/build/src_r && STEPS="build" LOG_DIR=$L/full bash scripts/gpu_check.sh > $L/full_build.txt 2>&1) &
one_config_build $R $R/build/site_a 64 > $L/build_a.log 2>&1 &
one_config_build $R/build/src_r $R/build/site_r 64 > $L/build_r.log 2>&1 &
one_config_build $R/build/src_g $R/build/site_g 64 > $L/build_g.log 2>&1 &
wait
echo "builds: $(( $(date +%s) - start )) s" | tee $L/times.txt
PYTHONPATH=$R/build/site_a timeout 200 ncu --clock-control none \
  --kernel-name "regex:select_kernel|decode_kernel" --launch-skip 4 --launch-count 2 \
  --section SpeedOfLight --section WarpStateStats --section SchedulerStats \
  --section InstructionStats --section LaunchStats --section Occupancy --section SourceCounters \
  -o $L/sparse_decode -f python3 $R/docs/results/2026-12-06-h100-session9/trace_decode.py \
  > $L/ncu.log 2>&1
echo "ncu rc=$?" | tee -a $L/times.txt
ncu --import $L/sparse_decode.ncu-rep --page details --print-units base > $L/sparse_decode.txt 2>&1
PYTHONPATH=$R/build/site_g timeout 120 ncu --clock-control none \
  --kernel-name "regex:triage_decode_kernel" --launch-skip 2 --launch-count 1 \
  --section SpeedOfLight --section WarpStateStats --section SchedulerStats --section SourceCounters \
  -o $L/fused_decode -f python3 $R/docs/results/2026-12-06-h100-session9/trace_decode.py \
  > $L/ncu_fused.log 2>&1
echo "ncu fused rc=$?" | tee -a $L/times.txt
ncu --import $L/fused_decode.ncu-rep --page details --print-units base > $L/fused_decode.txt 2>&1
pack
for r in 1 2; do decode_ab_round $r $L $R/build/site_r $R/build/site_a; pack; done
cd $R/build/src_r
timeout 120 ctest --test-dir build/gpu -R "Decode" --output-on-failure -j 4 > $L/ctest.txt 2>&1
echo "ctest rc=$?" | tee -a $L/ctest.txt
timeout 120 python3 -m pytest tests/python/test_decode.py -q -x > $L/pytest.txt 2>&1
echo "pytest rc=$?" | tee -a $L/pytest.txt
timeout 90 compute-sanitizer --tool memcheck --error-exitcode 1 build/gpu/tests/triageattention_tests \
  --gtest_filter='Decode*' --gtest_brief=1 > $L/memcheck.txt 2>&1
echo "memcheck rc=$?" | tee -a $L/memcheck.txt
echo "all done: $(( $(date +%s) - start )) s" | tee -a $L/times.txt
pack
grep -E "select_kernel|decode_kernel|Duration|No Instruction|Warp Cycles Per Issued|Issued Ipc" \
  $L/sparse_decode.txt $L/fused_decode.txt | head -60
cat $L/decode_ab.txt
grep -E " B  8 ctx  32768 filled  32768| B  1 ctx 131072" $L/select_ab.txt
