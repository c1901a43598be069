#!/usr/bin/env bash
# Session 13's first device call, from the repository root, with carry ["third_party"]:
#   bash docs/results/2026-12-06-h100-session13/run.sh
# The resident-cluster probe and the select micro-benchmark (seconds), then session 12's prepared run (Nsight Compute on
# the selection and decode kernels and on the fused kernel; A/B of next_relaxed_arrive.patch).
H=$PWD/docs/results/2026-12-06-h100-session13; mkdir -p $OUT/logs
nvcc -arch=sm_90a -o $OUT/cluster_probe $H/cluster_probe.cu && $OUT/cluster_probe | tee $OUT/logs/cluster_probe.txt
rm -f $OUT/cluster_probe
nvcc -arch=sm_90a -O3 -std=c++17 -I csrc -I include -o $OUT/select_bench $H/select_bench.cu && \
  $OUT/select_bench | tee $OUT/logs/select_bench.txt
rm -f $OUT/select_bench
bash docs/results/2026-12-06-h100-session12/next_run.sh
