#!/usr/bin/env bash
# Nsight Compute on one launch of a chosen kernel, with the sections that explain Hopper kernel
# speed: throughput vs peak, tensor-pipe utilization, DRAM/L2 traffic, warp stalls.
#   bash scripts/profile/ncu.sh <kernel-name-regex> <report-name> -- <command...>
# e.g. bash scripts/profile/ncu.sh block_sparse_attention attn -- build/gpu/benchmarks/bench_attention --quick
# SKIP (default 3) launches of the kernel are skipped first; NCU_EXTRA adds ncu arguments (e.g.
# "--section MemoryWorkloadAnalysis_Tables" for the L2 fabric and per-unit traffic tables).
set -euo pipefail
kernel=$1 name=$2
shift 2
[ "${1:-}" = "--" ] && shift
out_dir=${OUT:-build/profile}
mkdir -p "$out_dir"
ncu --clock-control none --kernel-name "regex:$kernel" --launch-skip "${SKIP:-3}" --launch-count 1 \
  --section SpeedOfLight --section ComputeWorkloadAnalysis --section MemoryWorkloadAnalysis \
  --section WarpStateStats --section SchedulerStats --section Occupancy --section LaunchStats \
  --metrics sm__pipe_tensor_op_gmma_cycles_active.avg.pct_of_peak_sustained_active,sm__inst_executed_pipe_tensor_op_gmma.sum,l1tex__throughput.avg.pct_of_peak_sustained_active,lts__t_bytes.sum,dram__bytes_read.sum \
 ${NCU_EXTRA:-} -o "$out_dir/$name" -f "$@" > "$out_dir/$name.log" 2>&1
ncu --import "$out_dir/$name.ncu-rep" --page details --print-details all --print-units base > "$out_dir/$name.txt"
echo "report: $out_dir/$name.ncu-rep, text: $out_dir/$name.txt"
