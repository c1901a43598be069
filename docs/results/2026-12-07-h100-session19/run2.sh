#!/usr/bin/env bash
# Session 19, device call 2 (GEMM). From the repository root, carry ["third_party"]:
#   bash docs/results/2026-12-07-h100-session19/run2.sh    # about 450 s
# Run 1 found bs 64 bound by the shared L2 (an item runs faster when fewer SMs share it) and h
# (cand_h.patch: A's multicast share evict-first, C stored evict-first) 1% faster at bs 64 and 3%
# at bs 128 (12.5%). Here: a / h / p (cand_h3.patch: h with 256-byte L2 promotion on every TMA
# descriptor), two A/B rounds in opposite order at bs 64 and 128; the GEMM tests and sanitizers
# on h built in full; Nsight Compute on a and h at 12.5% with the breakdowns (DRAM reads and L2
# throughput: did the hints raise the hit rate?).
R=$PWD
D=$R/docs/results/2026-12-07-h100-session19
source scripts/ab_tree.sh
ab_run_start
patched_copy $R/build/src_h $D/cand_h.patch
patched_copy $R/build/src_p $D/cand_h3.patch
full_build $R/build/src_h h &
one_config_build $R $R/build/site_a "64;128" > $L/build_a.log 2>&1 &
one_config_build $R/build/src_h $R/build/site_h "64;128" > $L/build_h.log 2>&1 &
one_config_build $R/build/src_p $R/build/site_p "64;128" > $L/build_p.log 2>&1 &
wait
stamp builds
tail -n 1 $L/full_build_h.txt
pack
gemm_ab_round 1 $L 64,128 $R/build/site_a $R/build/site_h $R/build/site_p
stamp "round 1"
pack
gemm_ab_round 2 $L 64,128 $R/build/site_p $R/build/site_h $R/build/site_a
stamp "round 2"
pack
gemm_checks $R/build/src_h $L h
stamp checks
pack
for v in a h; do
  PYTHONPATH=$R/build/site_$v OUT=$R/build/profile SKIP=1 \
    NCU_EXTRA="--section MemoryWorkloadAnalysis_Tables" timeout 100 \
    bash scripts/profile/ncu.sh bsr_gemm "${v}_0.125" -- \
    python3 benchmarks/bench_gemm.py --bs 64 --density 0.125 --runs 1 --warmup 1
  echo "ncu $v rc=$?" >> $L/times.txt
  cp "$R/build/profile/${v}_0.125.txt" $L/ 2>/dev/null
  stamp "ncu $v"
  grep -E "^ +(Duration|L2 Cache Throughput|L2 Hit Rate|DRAM Throughput|dram__bytes_read.sum|lts__t_bytes.sum)" \
    "$L/${v}_0.125.txt" | head -8
  pack
done
