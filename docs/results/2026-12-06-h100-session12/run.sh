#!/usr/bin/env bash
# Session 12's device call, from the repository root, with carry ["third_party"]:
#   bash docs/results/2026-12-06-h100-session12/run.sh
# Three trees: a (this one), n (session 11's next_candidate.patch: warm select, bs 128 GEMM
# without a cluster) and f (fused_decode.patch: sparse decode as one persistent kernel of
# score / select / stream tasks). Steps:
# 1. builds, in parallel: f in full (tests), one-config builds (block sizes 64 and 128) of a, n, f;
# 2. A/B/C, two rounds (the tests and memcheck run between them): bench_decode.py (a, n, f), select_times.py (a, n),
#    bench_gemm.py --bs 128 (a, n), kernel_times.py sparse_decode (f);
# 3. on f: ctest, pytest, compute-sanitizer memcheck / racecheck / synccheck on the decode tests.
# Every step packs $OUT/results.tgz, so a cut-off run still returns what it did.
R=$PWD; L=$OUT/logs; H=$R/docs/results/2026-12-06-h100-session12; mkdir -p $L
H11=$R/docs/results/2026-12-06-h100-session11
pack() { tar czf $OUT/results.tgz -C $OUT logs; }
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader > $L/device.txt
source scripts/ab_tree.sh
patched_copy $R/build/src_n $H11/next_candidate.patch
patched_copy $R/build/src_f $H/fused_decode.patch
start=$(date +%s)
(cd $R/build/src_f && STEPS="build" LOG_DIR=$L/full bash scripts/gpu_check.sh > $L/full_build.txt 2>&1) &
one_config_build $R $R/build/site_a "64;128" > $L/build_a.log 2>&1 &
one_config_build $R/build/src_n $R/build/site_n "64;128" > $L/build_n.log 2>&1 &
one_config_build $R/build/src_f $R/build/site_f "64;128" > $L/build_f.log 2>&1 &
wait
echo "builds: $(( $(date +%s) - start )) s" | tee $L/times.txt
tail -n 2 $L/full_build.txt $L/build_a.log $L/build_n.log $L/build_f.log
pack
# f first: if it hangs, the timeout ends it and the others still run.
ab_round() {
  local r=$1
  for v in f a n; do
    export PYTHONPATH=$R/build/site_$v
    timeout 60 python3 benchmarks/bench_decode.py --json $L/decode_$v$r.json > $L/decode_$v$r.md \
      2> $L/decode_$v$r.err; echo "decode $v$r rc=$?" >> $L/times.txt
    grep -E "TriageAttention sparse_decode|SDPA cuDNN" $L/decode_$v$r.md | cut -c1-200 \
      | sed "s/^/$v$r /" | tee -a $L/decode_ab.txt
    echo "$v$r WRONG results: $(cat $L/decode_$v$r.md $L/decode_$v$r.err | grep -c WRONG)" \
      | tee -a $L/decode_ab.txt
    if [ $v = f ]; then
      timeout 60 python3 scripts/profile/kernel_times.py sparse_decode > $L/kernels_f$r.txt 2>&1
    else
      timeout 30 python3 scripts/profile/select_times.py > $L/select_$v$r.txt 2>&1
      sed "s/^/$v$r /" $L/select_$v$r.txt >> $L/select_ab.txt
      timeout 60 python3 benchmarks/bench_gemm.py --bs 128 --runs 20 --json $L/gemm_$v$r.json \
        > $L/gemm_$v$r.md 2>&1
      grep -E "top-k\)" $L/gemm_$v$r.md | cut -c1-130 | sed "s/^/$v$r /" | tee -a $L/gemm_ab.txt
    fi
    unset PYTHONPATH
  done
  echo "round $r done: $(( $(date +%s) - start )) s" | tee -a $L/times.txt
  pack
}
ab_round 1
(cd $R/build/src_f && STEPS="cpp python" LOG_DIR=$L/tests timeout 200 bash scripts/gpu_check.sh \
  > $L/tests.txt 2>&1)
tail -n 4 $L/tests.txt
echo "tests done: $(( $(date +%s) - start )) s" | tee -a $L/times.txt
pack
T=$R/build/src_f/build/gpu/tests/triageattention_tests
timeout 90 compute-sanitizer --tool memcheck --error-exitcode 1 $T \
  --gtest_filter='Decode*' --gtest_brief=1 > $L/memcheck.txt 2>&1
echo "memcheck rc=$?" | tee -a $L/memcheck.txt
pack
ab_round 2
for tool in racecheck synccheck; do
  timeout 50 compute-sanitizer --tool $tool --error-exitcode 1 $T \
    --gtest_filter='Decode.SelectionOfLong*:Decode.ManySplits*:Decode.OtherPageSizes*' \
    --gtest_brief=1 > $L/$tool.txt 2>&1
  echo "$tool rc=$?" | tee -a $L/$tool.txt
done
echo "all done: $(( $(date +%s) - start )) s" | tee -a $L/times.txt
pack
cat $L/decode_ab.txt $L/gemm_ab.txt
grep -E " B  8 ctx  32768 filled  32768| B  1 ctx 131072" $L/select_ab.txt
cat $L/kernels_f1.txt | tail -8
