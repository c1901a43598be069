#!/usr/bin/env bash
# Session 12's second device call, from the repository root, with carry ["third_party"]:
#   bash docs/results/2026-12-06-h100-session12/run2.sh
# Trees: a (this one) and g (fused_decode_v2.patch: score tasks of two tiles in flight together,
# so B8/32k scores in one round; the waiting decode tasks poll with a growing pause; the
# selecting CTA stages the keys in shared memory). Steps:
# builds (g in full with tests; one-config a and g), two rounds of bench_decode.py (g, a) with
# kernel_times.py sparse_decode, the decode tests on g (ctest -R Decode, pytest -k decode),
# compute-sanitizer on the decode tests; between them, the per-task trace of g (t: g with
# fused_trace.patch; trace_fused.py, fused_phases.py). Every step packs $OUT/results.tgz.
R=$PWD; L=$OUT/logs; H=$R/docs/results/2026-12-06-h100-session12; mkdir -p $L
pack() { tar czf $OUT/results.tgz -C $OUT logs; }
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader > $L/device.txt
source scripts/ab_tree.sh
patched_copy $R/build/src_g $H/fused_decode_v2.patch
patched_copy $R/build/src_t $H/fused_decode_v2.patch
(cd $R/build/src_t && patch -p1 -s < $H/fused_trace.patch) || echo "PATCH FAILED: fused_trace"
start=$(date +%s)
(cd $R/build/src_g && STEPS="build" LOG_DIR=$L/full bash scripts/gpu_check.sh > $L/full_build.txt 2>&1) &
one_config_build $R $R/build/site_a 64 > $L/build_a.log 2>&1 &
one_config_build $R/build/src_g $R/build/site_g 64 > $L/build_g.log 2>&1 &
one_config_build $R/build/src_t $R/build/site_t 64 > $L/build_t.log 2>&1 &
wait
echo "builds: $(( $(date +%s) - start )) s" | tee $L/times.txt
tail -n 2 $L/full_build.txt $L/build_a.log $L/build_g.log
pack
ab_round() {
  local r=$1
  for v in g a; do
    export PYTHONPATH=$R/build/site_$v
    timeout 60 python3 benchmarks/bench_decode.py --json $L/decode_$v$r.json > $L/decode_$v$r.md \
      2> $L/decode_$v$r.err; echo "decode $v$r rc=$?" >> $L/times.txt
    grep -E "TriageAttention sparse_decode \(topk" $L/decode_$v$r.md | cut -c1-200 \
      | sed "s/^/$v$r /" | tee -a $L/decode_ab.txt
    echo "$v$r WRONG results: $(cat $L/decode_$v$r.md $L/decode_$v$r.err | grep -c WRONG)" \
      | tee -a $L/decode_ab.txt
    timeout 60 python3 scripts/profile/kernel_times.py sparse_decode > $L/kernels_$v$r.txt 2>&1
    unset PYTHONPATH
  done
  echo "round $r done: $(( $(date +%s) - start )) s" | tee -a $L/times.txt
  pack
}
ab_round 1
PYTHONPATH=$R/build/site_t timeout 60 python3 $H/trace_fused.py > $L/fused_trace.txt 2>&1
python3 $H/fused_phases.py $L/fused_trace.txt > $L/fused_phases.txt 2>&1
cat $L/fused_phases.txt
pack
cd $R/build/src_g
timeout 120 ctest --test-dir build/gpu -R "Decode" --output-on-failure -j 4 > $L/ctest.txt 2>&1
echo "ctest rc=$?" | tee -a $L/ctest.txt; tail -n 3 $L/ctest.txt
timeout 120 python3 -m pytest tests/python/test_decode.py -q -x > $L/pytest.txt 2>&1
echo "pytest rc=$?" | tee -a $L/pytest.txt; tail -n 2 $L/pytest.txt
T=$R/build/src_g/build/gpu/tests/triageattention_tests
timeout 90 compute-sanitizer --tool memcheck --error-exitcode 1 $T \
  --gtest_filter='Decode*' --gtest_brief=1 > $L/memcheck.txt 2>&1
echo "memcheck rc=$?" | tee -a $L/memcheck.txt
cd $R
echo "tests done: $(( $(date +%s) - start )) s" | tee -a $L/times.txt
pack
# Only while the device time lasts: a second round, then the race and sync checks.
[ $(( $(date +%s) - start )) -lt 290 ] && ab_round 2
for tool in racecheck synccheck; do
  [ $(( $(date +%s) - start )) -lt 360 ] || break
  timeout 50 compute-sanitizer --tool $tool --error-exitcode 1 $T \
    --gtest_filter='Decode.SelectionOfLong*:Decode.ManySplits*:Decode.OtherPageSizes*' \
    --gtest_brief=1 > $L/$tool.txt 2>&1
  echo "$tool rc=$?" | tee -a $L/$tool.txt
done
echo "all done: $(( $(date +%s) - start )) s" | tee -a $L/times.txt
pack
cat $L/decode_ab.txt
for f in $L/kernels_*1.txt; do echo "$f"; tail -n 4 $f | cut -c1-120; done
