#!/usr/bin/env bash
# Prepared in session 25; a second call after session 26's next_run.sh, which took over its
# acq_rel A/B (pr). From the repository root, carry ["third_party"], ~150 s.
# 1. Nsight Compute on the selection and the decode kernels of sparse B8/32k beside the plain
#    read of the same pages (bench_gather_ceiling, 64-token random pages): where the ~27 us of
#    fixed cost sit (OPTIMIZATION_LOG, after decode step 21). Profile main's kernels, or the
#    tree kept after session 26's run (apply its patch first).
# 2. The 8 MiB flush probe (does the read flush evict?). Prediction: no flush >= 5 TB/s; after
#    either flush, a rate well under it.
source scripts/ab_tree.sh
ab_run_start
gather_and_one_config_build build/site_a "64"
pack
mkdir -p "$L/ncu"
workload_ncu "$L" select_kernel sparse_decode build/site_a sparse_select
workload_ncu "$L" decode_kernel sparse_decode build/site_a
gather_ncu "$L" build/bench_gather_ceiling
ncu_summary "$L" sparse_select sparse_decode gather_64_random
stamp ncu
pack
PYTHONPATH=build/site_a timeout 40 python3 docs/results/2026-12-07-h100-session24/flush_probe.py 8 \
  > "$L/flush_probe_8.md" 2>&1
tee -a "$L/times.txt" < "$L/flush_probe_8.md"
stamp probe
pack
