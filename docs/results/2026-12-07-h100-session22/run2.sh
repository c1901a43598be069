#!/usr/bin/env bash
# Session 22, run 2 (what the budget left after run 1): this tree, whose only kernel change
# from run 1's nrlz is the empty row's clear moved after the final wgmma wait (ptxas had
# serialized every wgmma at bs 16/32, C7515). bs 16/32 one-config build and bench_gemm.py.
source scripts/ab_tree.sh
ab_run_start
one_config_build "$PWD" "$PWD/build/site_f" "16;32" > "$L/build_f.log" 2>&1
stamp build
pack
gemm_ab_round _small "$L" 16,32 "$PWD/build/site_f"
stamp "bs 16 and 32"
pack
