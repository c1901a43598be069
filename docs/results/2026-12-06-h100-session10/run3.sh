#!/usr/bin/env bash
# Session 10, device call 3 (from the repository root, carry ["third_party"]): the final tree.
#   bash docs/results/2026-12-06-h100-session10/run3.sh
# 1. builds in parallel: this tree in full (tests, benchmarks, installed) and a one-config build
#    with the session-9 decode trace; 2. ctest and pytest (everything); 3. compute-sanitizer on
#    the decode and triage tests; 4. bench_decode.py and select_times.py; 5. the decode trace.
R=$PWD; L=$OUT/logs; S9=$R/docs/results/2026-12-06-h100-session9; mkdir -p $L
pack() { tar czf $OUT/results.tgz -C $OUT logs; }
rm -rf $R/build/src_t; mkdir -p $R/build/src_t
tar cf - --exclude=./build --exclude=./.git . | tar xf - -C $R/build/src_t
(cd $R/build/src_t && patch -p1 -s < $S9/decode_trace.patch) || echo "PATCH FAILED"
start=$(date +%s)
STEPS="build" LOG_DIR=$L/full bash scripts/gpu_check.sh > $L/full_build.txt 2>&1 &
python3 -m pip install --no-build-isolation --no-deps -q --target $R/build/site_t \
  -Cbuild-dir=$R/build/site_t.bld -Ccmake.define.CUTLASS_DIR=$R/third_party/cutlass \
  -Ccmake.define.TRIAGEATTENTION_DTYPES=bf16 -Ccmake.define.TRIAGEATTENTION_HEAD_DIMS=128 \
  -Ccmake.define.TRIAGEATTENTION_Q_TILES=128 -Ccmake.define.TRIAGEATTENTION_BLOCK_SIZES=64 \
  $R/build/src_t > $L/build_t.log 2>&1 &
wait
echo "builds: $(( $(date +%s) - start )) s" | tee $L/times.txt
tail -n 2 $L/full_build.txt $L/build_t.log
pack
STEPS="cpp python" LOG_DIR=$L/tests bash scripts/gpu_check.sh > $L/tests.txt 2>&1; tail -n 4 $L/tests.txt
echo "tests done: $(( $(date +%s) - start )) s" | tee -a $L/times.txt
pack
T=build/gpu/tests/triageattention_tests
timeout 120 compute-sanitizer --tool memcheck --error-exitcode 1 $T --gtest_filter='Decode*:Triage*' \
  --gtest_brief=1 > $L/memcheck.txt 2>&1; echo "memcheck rc=$?" | tee -a $L/memcheck.txt
for tool in racecheck synccheck; do
  timeout 60 compute-sanitizer --tool $tool --error-exitcode 1 $T \
    --gtest_filter='Decode.SelectionOfLong*:Decode.ManySplits*:Triage.AdversarialInputs' \
    --gtest_brief=1 > $L/$tool.txt 2>&1
  echo "$tool rc=$?" | tee -a $L/$tool.txt
done
pack
timeout 120 python3 benchmarks/bench_decode.py --json $L/decode_py.json > $L/decode_py.md 2> $L/decode_py.err
timeout 60 python3 scripts/profile/select_times.py > $L/select_times.txt 2>&1
timeout 60 python3 scripts/profile/kernel_times.py sparse_decode > $L/kernel_times.txt 2>&1
echo "bench done: $(( $(date +%s) - start )) s" | tee -a $L/times.txt
pack
PYTHONPATH=$R/build/site_t timeout 60 python3 $S9/trace_decode.py > $L/decode_trace.txt 2>&1
python3 $S9/trace_analyze.py $L/decode_trace.txt > $L/decode_timeline.txt 2>&1
pack
grep -E "^\|" $L/decode_py.md | cut -c1-160; cat $L/select_times.txt $L/kernel_times.txt; head -n 14 $L/decode_timeline.txt
