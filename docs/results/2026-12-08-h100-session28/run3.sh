#!/usr/bin/env bash
# Session 28, run 3 (~200 s, carry ["third_party"]). Every line of the selection kernel runs
# about once per CTA, its code fetched cold after the benchmark's L2 flush (step 29 showed what
# code size costs in the decode's tail). sk (select_smem_keys_template.patch): whether rank 0's
# keys are in shared memory becomes a template parameter instead of a runtime flag, so the path
# not taken (keys rebuilt from global scores, rows over 16384 pages) leaves the instance that
# runs: .text of the bf16 D 128 selection kernel 73.3 -> 59.8 KB. Same instructions on the path
# taken. Prediction: selection -0.3 to -1 us (select_times.py B8/32k 15.2 -> ~14.5), sparse
# B8/32k the same.
source scripts/ab_tree.sh
ab_run_start
R=$PWD
N=docs/results/2026-12-08-h100-session28
patched_copy build/src_sk "$R/$N/select_smem_keys_template.patch"
one_config_tests_build build/src_sk sk &
one_config_build "$R" build/site_a "64" > "$L/build_a.txt" 2>&1 &
one_config_build build/src_sk build/site_sk "64" > "$L/build_sk.txt" 2>&1 &
wait
stamp build
decode_ab_round 1 "$L" build/site_a build/site_sk
stamp round1
pack
decode_gtests build/src_sk sk
pack
decode_ab_round 2 "$L" build/site_sk build/site_a
cut -c1-150 "$L/decode_ab.txt"
grep -E "B  8 ctx  32768 filled  32768|B  1 ctx 131072|B  8 ctx   4096" "$L/select_ab.txt"
stamp rounds
pack
