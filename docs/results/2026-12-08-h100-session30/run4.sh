#!/usr/bin/env bash
# Session 30, run 4 (~160 s, carry ["third_party"]): main as landed (pxs) on its one-config test
# build: the decode gtests, then memcheck on them and racecheck / synccheck on the split merges.
# (The whole suite ran on px in run 2; pxs differs from it only by the summaries' L2 policy.)
source scripts/ab_tree.sh
ab_run_start
patched_copy build/src_main
one_config_tests_build build/src_main main
stamp build
decode_gtests build/src_main main
(cd build/src_main && sanitize_line memcheck main 'Decode*:-DecodeSessions*' 120 \
  "$L/memcheck_main.txt") | tee -a "$L/times.txt"
split_merge_race_checks build/src_main "$L" main
stamp sanitizers
pack
