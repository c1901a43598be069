#!/usr/bin/env bash
# Session 27, run 3 (~230 s, carry ["third_party"]). Run 1's stamps put rank 0's select at 5.2 us
# (median CTA) of the selection kernel's ~18 us, and the scoring after the summaries land at 2.5.
# Candidates against main (a):
#   r  (floor_select.patch): rows of one tile per CTA; each tile sends rank 0 its quota-th best
#      key, and rank 0 ranks only the keys above the lowest bound (~111 of 512 at B8/32k), three
#      barriers instead of the radix passes. Prediction: rank 0's phase 5.2 -> ~1.5-2 us, sparse
#      B8/32k -2.5 to -3.5 us; B1/128k unchanged (2,048 pages: the radix select).
#   hr (half_tiles_floor_select.patch): r plus scoring the first half of the tile while the
#      second lands. Prediction: a further -1 to -1.5 us.
# Same sha256 for every output. The decode gtests on hr (one-config test build), two A/B rounds in opposite
# order, then compute-sanitizer on hr's selection test. (floor_select_trace.patch, the probe on r,
# is for a later call.)
source scripts/ab_tree.sh
ab_run_start
R=$PWD
S=docs/results/2026-12-07-h100-session27
patched_copy build/src_r "$R/$S/floor_select.patch"
patched_copy build/src_hr "$R/$S/half_tiles_floor_select.patch"
one_config_tests_build build/src_hr hr &
one_config_build "$R" build/site_a "64" > "$L/build_a.txt" 2>&1 &
one_config_build build/src_r build/site_r "64" > "$L/build_r.txt" 2>&1 &
one_config_build build/src_hr build/site_hr "64" > "$L/build_hr.txt" 2>&1 &
wait
stamp build
tail -n 1 "$L/test_build_hr.txt" | tee -a "$L/times.txt"
decode_gtests build/src_hr hr
stamp gtests
pack
decode_ab_round 1 "$L" build/site_a build/site_r build/site_hr
stamp round1
pack
decode_ab_round 2 "$L" build/site_hr build/site_r build/site_a
cut -c1-150 "$L/decode_ab.txt"
grep -E "B8|B1" "$L/select_ab.txt" | head -24
stamp rounds
pack
(cd build/src_hr && for tool in memcheck racecheck; do
  sanitize_line $tool hr 'Decode.SelectionOfShortRows*' 60 "$L/${tool}_hr.txt"
done) | tee -a "$L/times.txt"
stamp sanitizers
pack
