#!/usr/bin/env bash
# Prepared in session 10 for the next session's first device call (never run). From the
# repository root, with carry ["third_party"]:
#   bash docs/results/2026-12-06-h100-session10/next_run.sh
# 1. builds, in parallel: the tree with next_gemm_a_multicast.patch (full, with tests), one-config
#    bs 64/128 builds of this tree (a) and of the patched one (m), and a one-config build with
#    select_trace.patch (t);
# 2. GEMM A/B: bench_gemm.py --bs 64,128 --runs 20 on a and m, two interleaved rounds;
# 3. on the patched tree: ctest, the Python GEMM tests, compute-sanitizer on the GEMM tests
#    (every run under `timeout`: a cluster pipeline that deadlocks must not eat the call);
# 4. the selection trace (rank 0's steps after the cluster barrier).
# About 450 s; each step packs $OUT/results.tgz, so a cut-off run still returns what it did.
R=$PWD; L=$OUT/logs; H=$R/docs/results/2026-12-06-h100-session10; mkdir -p $L
pack() { tar czf $OUT/results.tgz -C $OUT logs; }
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader > $L/device.txt
source scripts/ab_tree.sh
patched_copy $R/build/src_m $H/next_gemm_a_multicast.patch
patched_copy $R/build/src_t $H/select_trace.patch
start=$(date +%s)
(cd $R/build/src_m && STEPS="build" LOG_DIR=$L/full bash scripts/gpu_check.sh > $L/full_build.txt 2>&1) &
one_config_build $R $R/build/site_a "64;128" > $L/build_a.log 2>&1 &
one_config_build $R/build/src_m $R/build/site_m "64;128" > $L/build_m.log 2>&1 &
one_config_build $R/build/src_t $R/build/site_t 64 > $L/build_t.log 2>&1 &
wait
echo "builds: $(( $(date +%s) - start )) s" | tee $L/times.txt
tail -n 2 $L/full_build.txt $L/build_a.log $L/build_m.log $L/build_t.log
pack
for r in 1 2; do for v in a m; do
  PYTHONPATH=$R/build/site_$v timeout 100 python3 benchmarks/bench_gemm.py --bs 64,128 --runs 20 \
    --json $L/gemm_$v$r.json > $L/gemm_$v$r.md 2>&1; echo "gemm $v$r rc=$?" >> $L/times.txt
  grep -E "top-k" $L/gemm_$v$r.md | cut -c1-170 | sed "s/^/$v$r /" | tee -a $L/gemm_ab.txt
done; pack; done
cd $R/build/src_m
STEPS="cpp" LOG_DIR=$L/tests bash scripts/gpu_check.sh > $L/tests.txt 2>&1; tail -n 4 $L/tests.txt
timeout 90 python3 -m pytest tests/python/test_bsr_matmul.py -q -x > $L/pytest_gemm.txt 2>&1
tail -n 2 $L/pytest_gemm.txt
pack
T=build/gpu/tests/triageattention_tests
timeout 90 compute-sanitizer --tool memcheck --error-exitcode 1 $T \
  --gtest_filter='BsrGemm*:-*BitwiseIdenticalOver100Runs*' --gtest_brief=1 > $L/memcheck_gemm.txt 2>&1
echo "memcheck rc=$?" | tee -a $L/memcheck_gemm.txt
for tool in racecheck synccheck; do
  timeout 90 compute-sanitizer --tool $tool --error-exitcode 1 $T \
    --gtest_filter='BsrGemmAllConfigs.*/bf16_outsame_*:BsrGemm.MalformedIndicesAreSafe' \
    --gtest_brief=1 > $L/${tool}_gemm.txt 2>&1
  echo "$tool rc=$?" | tee -a $L/${tool}_gemm.txt
done
pack
cd $R
PYTHONPATH=$R/build/site_t timeout 60 python3 docs/results/2026-12-06-h100-session9/trace_decode.py \
  > $L/decode_trace.txt 2>&1
python3 $H/select_phases.py $L/decode_trace.txt | tee $L/select_phases.txt
pack
cat $L/gemm_ab.txt
