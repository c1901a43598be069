#!/usr/bin/env bash
# Session 30, run 3 (~330 s, carry ["third_party"]): px against px' (pxs: the evict-first policy
# on the decode's K/V stream only, not on the selection's summaries; x slowed select_times.py's
# B1/128k selection 20.7 -> 22.3 us), beside main, two rounds in opposite order; then pxs's decode
# gtests on its one-config test build.
source scripts/ab_tree.sh
ab_run_start
R=$PWD
N=docs/results/2026-12-08-h100-session30
patched_copy build/src_px "$R/$N/l2_prefetch.patch" "$R/$N/evict_first.patch"
patched_copy build/src_pxs "$R/$N/l2_prefetch.patch" "$R/$N/evict_first_stream.patch"
one_config_build "$R" build/site_a "64" > "$L/build_a.txt" 2>&1 &
for v in px pxs; do
  one_config_build build/src_$v build/site_$v "64" > "$L/build_$v.txt" 2>&1 &
done
wait
stamp build
pack
decode_ab_round 1 "$L" build/site_a build/site_px build/site_pxs
stamp round1
pack
decode_ab_round 2 "$L" build/site_pxs build/site_px build/site_a
cut -c1-150 "$L/decode_ab.txt"
cut -c1-140 "$L/decode_dense_ab.txt"
grep -E "B  8 ctx  32768 filled  32768|B  1 ctx 131072" "$L/select_ab.txt"
stamp rounds
pack
one_config_tests_build build/src_pxs pxs
decode_gtests build/src_pxs pxs
stamp gtests
pack
