#!/usr/bin/env bash
# Session 24 run 2, from the repository root, carry ["third_party"] (~450 s). A/B of decode step
# 20 (w, this tree: rank 0's select by one warp with the keys in registers for rows of up to 1024
# pages, and the splits' arrival as one acquire-release atomic between two CTA barriers instead
# of a fence in every thread and a second fence in the last split) against a (session 23's
# kernels: this tree with back_to_head.patch). Under the read flush (run 1: a sparse B8/32k
# 0.0734 ms, 4.68x cuDNN). Predictions: select_bench 512 keys ~6,700 -> ~2,000-2,500 cycles;
# selection -2 us, decode tail -0.5 us: sparse B8/32k ~0.0734 -> ~0.071 ms (~4.85x); dense rows
# unchanged within 1%. Then the decode and triage tests and sanitizers on w's full build.
source scripts/ab_tree.sh
ab_run_start
R=$PWD
S=docs/results/2026-12-07-h100-session24
mkdir -p build
patched_copy build/src_a "$R/$S/back_to_head.patch"
nvcc -arch=sm_90a -O3 -std=c++17 -I csrc -I include -o build/select_bench \
  docs/results/2026-12-06-h100-session13/select_bench.cu > "$L/select_bench_build.txt" 2>&1 &
full_build "$R" w &
one_config_build "$R" build/site_w "64" > "$L/build_w.txt" 2>&1 &
one_config_build build/src_a build/site_a "64" > "$L/build_a.txt" 2>&1 &
wait
stamp builds
tail -n 2 "$L/full_build_w.txt"
timeout 60 build/select_bench 2>&1 | tee "$L/select_bench.txt"
stamp select_bench
pack
decode_ab_round 1 "$L" build/site_a build/site_w
stamp round1
pack
decode_ab_round 2 "$L" build/site_w build/site_a
stamp round2
pack
grep -E "TriageAttention" "$L"/decode_[aw][12].md | grep -E "B8 H32/8 D128 ctx 4096" \
  | cut -c1-170 | tee -a "$L/times.txt"
grep -E "ctx  32768 filled  32768|ctx 131072" "$L/select_ab.txt" | tee -a "$L/times.txt"
for v in a w; do
  for wl in sparse_decode dense_decode_4k; do
    PYTHONPATH=build/site_$v timeout 60 python3 scripts/profile/kernel_times.py $wl \
      --l2-flush read --timeline 2>&1 | grep -v -i warn | cut -c1-130 | sed "s/^/$v /" \
      | tee -a "$L/times.txt"
  done
done
stamp timelines
pack
decode_triage_checks "$R" "$L" w
split_merge_race_checks "$R" "$L" w
stamp checks
pack
