#!/usr/bin/env bash
# Prepared in session 9 for one device call (never run: no machine came). From the repository
# root, with carry ["third_party"]:
#   bash docs/results/2026-12-06-h100-session9/next_run.sh
# 1. builds, in parallel: the tree with session 8's deferred GEMM epilogue (full build with tests,
#    installed), one-config bs 64/128 builds of this tree (a) and of the patched one (d), and a
#    one-config build with the decode CTA trace;
# 2. GEMM A/B: bench_gemm.py --bs 64,128 (peers in the same run) on each one-config build, two
#    interleaved rounds; 3. ctest and the Python GEMM tests of the patched tree; 4. memcheck on
#    the GEMM tests; 5. the decode trace.
# About 450 s; each step packs $OUT/results.tgz, so a cut-off run still returns what it did.
R=$PWD; L=$OUT/logs; H=$R/docs/results/2026-12-06-h100-session9; mkdir -p $L
pack() { tar czf $OUT/results.tgz -C $OUT logs; }
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader > $L/device.txt
mk() {  # mk DIR PATCH: a copy of this tree with PATCH applied
  rm -rf $1; mkdir -p $1; tar cf - --exclude=./build --exclude=./.git . | tar xf - -C $1
  (cd $1 && patch -p1 -s < $2) || echo "PATCH FAILED: $2"
}
mk $R/build/src_d $R/docs/results/2026-12-06-h100-session8/next_deferred_epilogue.patch
mk $R/build/src_t $H/decode_trace.patch
one() {  # one SRC SITE BLOCK_SIZES: a one-config build installed into SITE
  python3 -m pip install --no-build-isolation --no-deps -q --target $2 -Cbuild-dir=$2.bld \
    -Ccmake.define.CUTLASS_DIR=$R/third_party/cutlass -Ccmake.define.TRIAGEATTENTION_DTYPES=bf16 \
    -Ccmake.define.TRIAGEATTENTION_HEAD_DIMS=128 -Ccmake.define.TRIAGEATTENTION_Q_TILES=128 \
    "-Ccmake.define.TRIAGEATTENTION_BLOCK_SIZES=$3" $1
}
start=$(date +%s)
(cd $R/build/src_d && STEPS="build" LOG_DIR=$L/full bash scripts/gpu_check.sh > $L/full_build.txt 2>&1) &
one $R $R/build/site_a "64;128" > $L/build_a.log 2>&1 &
one $R/build/src_d $R/build/site_d "64;128" > $L/build_d.log 2>&1 &
one $R/build/src_t $R/build/site_t 64 > $L/build_t.log 2>&1 &
wait
echo "builds: $(( $(date +%s) - start )) s" | tee $L/times.txt
tail -2 $L/full_build.txt $L/build_a.log $L/build_d.log $L/build_t.log
pack
for r in 1 2; do for v in a d; do  # the project's benchmark, peers included, per build
  PYTHONPATH=$R/build/site_$v timeout 100 python3 benchmarks/bench_gemm.py --bs 64,128 --runs 20 \
    --json $L/gemm_$v$r.json > $L/gemm_$v$r.md 2>&1
  grep -E "top-k" $L/gemm_$v$r.md | cut -c1-170 | sed "s/^/$v$r /" | tee -a $L/gemm_ab.txt
done; done
pack
cd $R/build/src_d
STEPS="cpp" LOG_DIR=$L/tests bash scripts/gpu_check.sh > $L/tests.txt 2>&1; tail -4 $L/tests.txt
timeout 60 python3 -m pytest tests/python/test_bsr_matmul.py -q -x > $L/pytest_gemm.txt 2>&1; tail -2 $L/pytest_gemm.txt
pack
timeout 60 compute-sanitizer --tool memcheck --error-exitcode 1 build/gpu/tests/triageattention_tests \
  --gtest_filter='BsrGemm*:-*BitwiseIdenticalOver100Runs*' --gtest_brief=1 > $L/memcheck_gemm.txt 2>&1
echo "memcheck gemm rc=$?" | tee -a $L/memcheck_gemm.txt
pack
cd $R
PYTHONPATH=$R/build/site_t timeout 60 python3 $H/trace_decode.py > $L/decode_trace.txt 2>&1
python3 $H/trace_analyze.py $L/decode_trace.txt | tee $L/decode_timeline.txt
pack
cat $L/gemm_ab.txt
