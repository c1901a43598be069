#!/usr/bin/env bash
# Prepared for the next session (not run): why a 16-stage bs 64 item streams its stages ~4.5%
# slower than a 64-stage one (OPTIMIZATION_LOG, after GEMM step 13). Nsight Compute on one launch
# of the bs 64 GEMM at 12.5% and at 50% density, 8192^3 bf16, this tree. From the repository
# root, carry ["third_party"]:
#   bash docs/results/2026-12-07-h100-session18/next_run.sh    # about 250 s
# Compare the two reports' L2 and crossbar throughput (lts__t_bytes, L2 hit rate, the
# "Memory Throughput" breakdown) and the consumers' stall reasons; the reports stay on the
# device, their text pages come back in $OUT/logs.
R=$PWD
source scripts/ab_tree.sh
ab_run_start
(STEPS="build" LOG_DIR=$L/build bash scripts/gpu_check.sh > $L/build.txt 2>&1)
stamp build
tail -n 1 $L/build.txt
pack
for density in 0.125 0.5; do
  OUT=$R/build/profile SKIP=1 timeout 150 bash scripts/profile/ncu.sh bsr_gemm "bs64_$density" -- \
    build/gpu/benchmarks/bench_sparse_gemm --bs 64 --density $density --runs 1 --warmup 1
  cp "$R/build/profile/bs64_$density.txt" "$R/build/profile/bs64_$density.log" $L/ 2>/dev/null
  stamp "ncu $density"
  grep -E "Duration|Memory Throughput|L2 Hit Rate|lts__t_bytes.sum|DRAM Throughput|gmma_cycles_active" \
    "$L/bs64_$density.txt" | head -12
  pack
done
