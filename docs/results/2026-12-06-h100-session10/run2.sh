#!/usr/bin/env bash
# Session 10, device call 2 (from the repository root, carry ["third_party"]):
#   bash docs/results/2026-12-06-h100-session10/run2.sh
# 1. builds in parallel: this tree in full (tests, benchmarks, installed), and one-config
#    (bs 64) builds of this tree (n) and of this tree without select_registers.patch (a);
# 2. ctest; 3. A/B: bench_decode.py on a and n, two interleaved rounds, and select_times.py;
# 4. pytest on the decode and triage tests; 5. compute-sanitizer on the decode and triage tests.
# Each step packs $OUT/results.tgz, so a cut-off run still returns what it did.
R=$PWD; L=$OUT/logs; H=$R/docs/results/2026-12-06-h100-session10; mkdir -p $L
pack() { tar czf $OUT/results.tgz -C $OUT logs; }
rm -rf $R/build/src_a; mkdir -p $R/build/src_a
tar cf - --exclude=./build --exclude=./.git . | tar xf - -C $R/build/src_a
(cd $R/build/src_a && patch -p1 -R -s < $H/select_registers.patch) || echo "PATCH FAILED"
one() {  # one SRC SITE: a one-config build installed into SITE
  python3 -m pip install --no-build-isolation --no-deps -q --target $2 -Cbuild-dir=$2.bld \
    -Ccmake.define.CUTLASS_DIR=$R/third_party/cutlass -Ccmake.define.TRIAGEATTENTION_DTYPES=bf16 \
    -Ccmake.define.TRIAGEATTENTION_HEAD_DIMS=128 -Ccmake.define.TRIAGEATTENTION_Q_TILES=128 \
    -Ccmake.define.TRIAGEATTENTION_BLOCK_SIZES=64 $1
}
start=$(date +%s)
STEPS="build" LOG_DIR=$L/full bash scripts/gpu_check.sh > $L/full_build.txt 2>&1 &
one $R/build/src_a $R/build/site_a > $L/build_a.log 2>&1 &
one $R $R/build/site_n > $L/build_n.log 2>&1 &
wait
echo "builds: $(( $(date +%s) - start )) s" | tee $L/times.txt
tail -2 $L/full_build.txt $L/build_a.log $L/build_n.log
pack
STEPS="cpp" LOG_DIR=$L/tests bash scripts/gpu_check.sh > $L/tests.txt 2>&1; tail -4 $L/tests.txt
echo "ctest done: $(( $(date +%s) - start )) s" | tee -a $L/times.txt
pack
for r in 1 2; do for v in a n; do
  PYTHONPATH=$R/build/site_$v timeout 120 python3 benchmarks/bench_decode.py \
    --json $L/decode_$v$r.json > $L/decode_$v$r.md 2> $L/decode_$v$r.err
  grep -E "TriageAttention" $L/decode_$v$r.md | cut -c1-150 | sed "s/^/$v$r /" | tee -a $L/decode_ab.txt
done; pack; done
for v in a n; do
  PYTHONPATH=$R/build/site_$v timeout 60 python3 scripts/profile/select_times.py > $L/select_$v.txt 2>&1
  sed "s/^/$v /" $L/select_$v.txt | tee -a $L/select_ab.txt
done
echo "bench done: $(( $(date +%s) - start )) s" | tee -a $L/times.txt
pack
timeout 150 python3 -m pytest tests/python/test_decode.py tests/python/test_triage.py -q -x > $L/pytest.txt 2>&1
tail -2 $L/pytest.txt
pack
T=build/gpu/tests/triageattention_tests
timeout 120 compute-sanitizer --tool memcheck --error-exitcode 1 $T --gtest_filter='Decode*:Triage*' \
  --gtest_brief=1 > $L/memcheck.txt 2>&1; echo "memcheck rc=$?" | tee -a $L/memcheck.txt
for tool in racecheck synccheck; do
  timeout 60 compute-sanitizer --tool $tool --error-exitcode 1 $T \
    --gtest_filter='Decode.SelectionOfLong*:Decode.ManySplits*' --gtest_brief=1 > $L/$tool.txt 2>&1
  echo "$tool rc=$?" | tee -a $L/$tool.txt
done
echo "all done: $(( $(date +%s) - start )) s" | tee -a $L/times.txt
pack
cat $L/decode_ab.txt
