#!/usr/bin/env bash
# Session 28, run 1 (~450 s, carry ["third_party"]): session 27's next_run.sh (its header below)
# plus m (merge_tail.patch): the decode's end. The last split's merge issues the loads of four
# splits' partials for all four of a thread's (row, column quad) items before their adds (16 L2
# loads in flight, where the item loop waited one L2 round trip per item: session 27's trace put
# the merge at 2.3 us), and the arrival is one acq_rel atomic by thread 0 between two CTA barriers
# instead of a fence in every thread (session 24's next_arrival_acq_rel.patch, folded into
# session 26's pr: -0.5 to -0.8 us there). Same sums in the same order: same bits.
# Prediction for m: merge 2.3 -> ~0.8 us, arrival -0.3 us: sparse B8/32k -1.5 to -2 us,
# dense B8/32k (4 splits) -1 us; B64/4k (one split) unchanged.
#
# Prepared in session 27 for the next session's first device call. From the repository root,
# carry ["third_party"], ~380 s. Ordered by what a decision needs first; each step is packed as
# it ends.
# Run 3 found the floor select (r) 3-4 us slower at sparse B8/32k, though faster on one-CTA rows
# (select_times.py B8/4k 9.0 -> 7.3 us). Here:
#   1. The probe's stamps on main (t) and on r2 (floor_select_balanced_trace.patch): where r's
#      time goes. r2 = r with the contenders dealt round-robin (thread t ranks contenders t and
#      t + 128) instead of two consecutive ones per thread, which left ~111 contenders on the
#      first 56 threads with 2 x 111 compares each, and with the compares (the list's and the
#      tile bound's) reading 16 bytes at a time into independent sums.
#   2. A/B of main (a), h (half_tiles.patch alone: scoring the first half of the tile while the
#      second lands), r2 and hr2 (both: half_tiles_floor_select_balanced.patch; 4 bytes of spills
#      at D 64, none at D 128), two rounds in opposite order.
#   3. Decode gtests and racecheck on r2's one-config test build.
# Predictions: r2's rank 0 phase (stamp 4 -> 5) ~1.5-2.5 us against a's 5.2; if it is, sparse
# B8/32k -2 to -3 us; h -1 to -1.5 us (the scored stamp moves from 9.1 to ~7.8 median).
source scripts/ab_tree.sh
ab_run_start
R=$PWD
S=docs/results/2026-12-07-h100-session27
N=docs/results/2026-12-08-h100-session28
patched_copy build/src_t "$R/$S/trace_probe.patch"
patched_copy build/src_r2t "$R/$S/floor_select_balanced_trace.patch"
patched_copy build/src_h "$R/$S/half_tiles.patch"
patched_copy build/src_r2 "$R/$S/floor_select_balanced.patch"
patched_copy build/src_hr2 "$R/$S/half_tiles_floor_select_balanced.patch"
patched_copy build/src_m "$R/$N/merge_tail.patch"
one_config_tests_build build/src_m m &
one_config_tests_build build/src_r2 r2 &
for v in t r2t h r2 hr2 m; do
  one_config_build build/src_$v build/site_$v "64" > "$L/build_$v.txt" 2>&1 &
done
one_config_build "$R" build/site_a "64" > "$L/build_a.txt" 2>&1 &
wait
stamp build
for v in t r2t; do
  PYTHONPATH=build/site_$v timeout 60 python3 $S/trace_probe.py sparse_decode read \
    > "$L/trace_$v.md" 2>&1
  grep -E "^## |select \| (summaries|scored|barrier|cluster.sync|rank0)|dep wait done \| (min|max)|merge end \| max" \
    "$L/trace_$v.md" | sed "s/^/$v /"
done
stamp probe
pack
decode_gtests build/src_r2 r2
decode_gtests build/src_m m
stamp gtests
pack
decode_ab_round 1 "$L" build/site_a build/site_h build/site_r2 build/site_hr2 build/site_m
stamp round1
pack
decode_ab_round 2 "$L" build/site_m build/site_hr2 build/site_r2 build/site_h build/site_a
cut -c1-150 "$L/decode_ab.txt"
grep -E "B  8 ctx  32768 filled  32768|B  1 ctx 131072|B  8 ctx   4096" "$L/select_ab.txt"
stamp rounds
pack
(cd build/src_r2 && sanitize_line racecheck r2 'Decode.SelectionOfShortRows*' 60 \
  "$L/racecheck_r2.txt") | tee -a "$L/times.txt"
(cd build/src_m && sanitize_line racecheck m 'Decode.ManySplits*' 90 "$L/racecheck_m.txt" &&
  sanitize_line memcheck m 'Decode.ManySplits*:Decode.OtherPageSizes*' 90 "$L/memcheck_m.txt") \
  | tee -a "$L/times.txt"
stamp sanitizers
pack
