#!/usr/bin/env bash
# Prepared in session 11 for the next session's first device call (never run: seven calls were
# refused and the device time ran out). From the repository root, with carry ["third_party"]:
#   bash docs/results/2026-12-06-h100-session11/next_run.sh
# The candidate (next_candidate.patch): rank 0 of the selection runs its select dry while its
# summaries are in flight (warm instruction cache for the real select), and bs 128 runs the GEMM
# without a cluster (session 11 run 1: -1% with one). Steps:
# 1. builds, in parallel: the patched tree in full (tests), one-config builds (block sizes 64 and
#    128) of this tree (a) and of the patched one (n), and the patched one with the selection
#    trace (t, warm_trace.patch, block size 64);
# 2. A/B on a and n, two interleaved rounds: bench_decode.py, select_times.py, and
#    bench_gemm.py --bs 128;
# 3. on the patched tree: ctest, pytest, compute-sanitizer on the decode, triage and GEMM tests;
# 4. the selection trace of t (select_phases.py shows the dry and the real select).
# About 450 s; every step packs $OUT/results.tgz, so a cut-off run still returns what it did.
R=$PWD; L=$OUT/logs; H=$R/docs/results/2026-12-06-h100-session11; mkdir -p $L
S9=$R/docs/results/2026-12-06-h100-session9; S10=$R/docs/results/2026-12-06-h100-session10
pack() { tar czf $OUT/results.tgz -C $OUT logs; }
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader > $L/device.txt
source scripts/ab_tree.sh
patched_copy $R/build/src_n $H/next_candidate.patch
patched_copy $R/build/src_t $H/next_candidate.patch
(cd $R/build/src_t && patch -p1 -s < $H/warm_trace.patch) || echo "PATCH FAILED: warm_trace"
start=$(date +%s)
(cd $R/build/src_n && STEPS="build" LOG_DIR=$L/full bash scripts/gpu_check.sh > $L/full_build.txt 2>&1) &
one_config_build $R $R/build/site_a "64;128" > $L/build_a.log 2>&1 &
one_config_build $R/build/src_n $R/build/site_n "64;128" > $L/build_n.log 2>&1 &
one_config_build $R/build/src_t $R/build/site_t 64 > $L/build_t.log 2>&1 &
wait
echo "builds: $(( $(date +%s) - start )) s" | tee $L/times.txt
tail -n 2 $L/full_build.txt $L/build_a.log $L/build_n.log $L/build_t.log
pack
for r in 1 2; do for v in a n; do
  export PYTHONPATH=$R/build/site_$v
  timeout 60 python3 benchmarks/bench_decode.py --json $L/decode_$v$r.json > $L/decode_$v$r.md \
    2> $L/decode_$v$r.err
  grep -E "TriageAttention sparse_decode \(topk" $L/decode_$v$r.md | cut -c1-150 \
    | sed "s/^/$v$r /" | tee -a $L/decode_ab.txt
  timeout 30 python3 scripts/profile/select_times.py > $L/select_$v$r.txt 2>&1
  sed "s/^/$v$r /" $L/select_$v$r.txt >> $L/select_ab.txt
  timeout 60 python3 benchmarks/bench_gemm.py --bs 128 --runs 20 --json $L/gemm_$v$r.json \
    > $L/gemm_$v$r.md 2>&1
  grep -E "top-k\)" $L/gemm_$v$r.md | cut -c1-130 | sed "s/^/$v$r /" | tee -a $L/gemm_ab.txt
  unset PYTHONPATH
done; pack; done
echo "A/B done: $(( $(date +%s) - start )) s" | tee -a $L/times.txt
cd $R/build/src_n
STEPS="cpp python" LOG_DIR=$L/tests bash scripts/gpu_check.sh > $L/tests.txt 2>&1
tail -n 4 $L/tests.txt
echo "tests done: $(( $(date +%s) - start )) s" | tee -a $L/times.txt
pack
T=build/gpu/tests/triageattention_tests
timeout 120 compute-sanitizer --tool memcheck --error-exitcode 1 $T \
  --gtest_filter='Decode*:Triage*:BsrGemm*:-*BitwiseIdenticalOver100Runs*' --gtest_brief=1 \
  > $L/memcheck.txt 2>&1; echo "memcheck rc=$?" | tee -a $L/memcheck.txt
for tool in racecheck synccheck; do
  timeout 90 compute-sanitizer --tool $tool --error-exitcode 1 $T \
    --gtest_filter='Decode.SelectionOfLong*:Decode.ManySplits*:Triage.AdversarialInputs:BsrGemmAllConfigs.*/bf16_outsame_*:BsrGemm.MalformedIndicesAreSafe' \
    --gtest_brief=1 > $L/$tool.txt 2>&1
  echo "$tool rc=$?" | tee -a $L/$tool.txt
done
pack
cd $R
PYTHONPATH=$R/build/site_t timeout 60 python3 $S9/trace_decode.py > $L/decode_trace.txt 2>&1
python3 $S10/select_phases.py $L/decode_trace.txt > $L/select_phases.txt 2>&1
echo "all done: $(( $(date +%s) - start )) s" | tee -a $L/times.txt
pack
cat $L/decode_ab.txt $L/gemm_ab.txt
grep -E " B  8 ctx  32768 filled  32768| B  1 ctx 131072" $L/select_ab.txt
grep -E "select|dry|done" $L/select_phases.txt | head -12
