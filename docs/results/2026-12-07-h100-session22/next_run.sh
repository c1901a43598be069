#!/usr/bin/env bash
# Prepared in session 22, not run (its budget was spent). From the repository root, carry
# ["third_party"]:  bash docs/results/2026-12-07-h100-session22/next_run.sh   # ~560 s
# This tree differs from run 1's measured nrlz only where ptxas serialized wgmma at bs 16/32
# (OPTIMIZATION_LOG GEMM step 24: the empty row's clear after the final wgmma wait). It needs
# the whole suite on the GPU and bs 16/32 measured before issue #2 can close. Prediction: bs 32
# 12.5% / 50% back to ~227 / ~248 TFLOP/s (run 1: 220.3 / 242.5 with the serialization, 227.0 /
# 247.7 before z), bs 16 >= 113.9; bs 64/128 as run 1's nrlz (451.3 at bs 64 12.5%: same PTX).
source scripts/ab_tree.sh
ab_run_start
STEPS="build sass cpp python sanitize" LOG_DIR="$L/check" bash scripts/gpu_check.sh 2>&1 \
  | tail -n 8 | tee -a "$L/times.txt"
stamp "build and suite"
pack
timeout 200 python3 benchmarks/bench_gemm.py --bs 16,32,64,128 --runs 20 \
  --json "$L/gemm.json" > "$L/gemm.md" 2>&1
grep -E "^\| M8192" "$L/gemm.md" | cut -c1-170 | tee -a "$L/times.txt"
stamp "bench_gemm"
pack
timeout 60 build/gpu/benchmarks/bench_sparse_gemm --density 0.125 --runs 10 > "$L/gemm_cpp.md" 2>&1
grep -E "^\|" "$L/gemm_cpp.md" | cut -c1-170 | tee -a "$L/times.txt"
stamp "bench_sparse_gemm"
pack
timeout 60 build/gpu/benchmarks/bench_gather_ceiling > "$L/gather.md" 2>&1
timeout 90 python3 benchmarks/bench_decode.py --json "$L/decode.json" > "$L/decode.md" 2>&1
cat "$L/gather.md" | tee -a "$L/times.txt"
grep -E "sparse_decode \(topk|cuDNN" "$L/decode.md" | cut -c1-170 | tee -a "$L/times.txt"
stamp "gather ceiling and decode"
pack
gemm_ncu_forms "$L"
stamp ncu
pack
