#!/usr/bin/env bash
# Session 28, run 2 (~380 s, carry ["third_party"]). Main now has h (half-tile scoring). Run 1
# found m (merge_tail.patch) 2-5 us slower on every multi-split row, dense B8/4k included, though
# it only reorders the decode's last lines: its unrolled merge grew the decode kernel's code from
# 52.7 to 95.1 KB (.text of the bf16 D 128 cubin), and that tail runs once per CTA, its code
# fetched from memory after the benchmark's L2 flush. Two candidates, small code:
#   ar (session 24's next_arrival_acq_rel.patch): the arrival alone, one acq_rel atomic by
#      thread 0 between two CTA barriers. Prediction: -0.3 to -0.5 us on multi-split rows.
#   ms (merge_staged.patch): ar, plus the last split copies the partials of a window of splits
#      (ten at D 128 and 16 rows) into shared memory with cp.async, all in flight at once, the
#      lse loads beside them, then merges from shared memory with rolled loops (.text 53.9 KB).
#      Same sums in the same order. New test Decode.ManySplitsMergeInWindows (two windows).
#      Prediction: the merge 2.3 -> ~1 us: sparse B8/32k -1.3 to -1.8 us, sparse B1/128k and
#      dense B8/4k -1 us.
# The full suite on ms's tree (it holds main's h too), two A/B rounds in opposite order, then
# racecheck and memcheck on ms's split merges.
source scripts/ab_tree.sh
ab_run_start
R=$PWD
N=docs/results/2026-12-08-h100-session28
patched_copy build/src_ms "$R/$N/merge_staged.patch"
patched_copy build/src_ar "$R/docs/results/2026-12-07-h100-session24/next_arrival_acq_rel.patch"
full_build build/src_ms ms &
one_config_build "$R" build/site_a "64" > "$L/build_a.txt" 2>&1 &
one_config_build build/src_ms build/site_ms "64" > "$L/build_ms.txt" 2>&1 &
one_config_build build/src_ar build/site_ar "64" > "$L/build_ar.txt" 2>&1 &
wait
stamp build
tail -n 1 "$L/full_build_ms.txt" | tee -a "$L/times.txt"
pack
decode_ab_round 1 "$L" build/site_a build/site_ms build/site_ar
stamp round1
pack
decode_ab_round 2 "$L" build/site_ar build/site_ms build/site_a
cut -c1-150 "$L/decode_ab.txt"
cut -c1-140 "$L/decode_dense_ab.txt"
stamp rounds
pack
candidate_suite build/src_ms ms
stamp suite
pack
(cd build/src_ms && sanitize_line racecheck ms 'Decode.ManySplits*' 90 "$L/racecheck_ms.txt" &&
  sanitize_line memcheck ms 'Decode.ManySplits*:Decode.OtherPageSizes*' 120 "$L/memcheck_ms.txt") \
  | tee -a "$L/times.txt"
stamp sanitizers
pack
