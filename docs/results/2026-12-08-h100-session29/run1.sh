#!/usr/bin/env bash
# Session 29, run 1 (~550 s, carry ["third_party"]). f (ready_flags.patch, decode step 33): each
# sparse decode CTA starts streaming once its own pair's selection is written (a per-pair ready
# flag: rank 0 clears it before the decode may launch and raises it after its entries) instead of
# after griddepcontrol.wait on the whole selection grid. Session 27's trace put the rank-0 ends at
# 15.4 / 16.0 / 17.8 us (first / median / last) and the decode's wait at 18.6, with the decode
# CTAs resident from ~13 us. Prediction: sparse B8/32k -1 to -2 us, B1/128k -0.5 to -1.5; dense
# rows unchanged. Builds: f in full (for its suite), one-config a and f (the A/B). Then two A/B
# rounds in opposite order, f's whole suite and the sanitizers on its decode; last (if time is
# left), the per-CTA probes of both (t: main + trace_probe.patch, tf: f +
# trace_probe_flags.patch).
source scripts/ab_tree.sh
ab_run_start
R=$PWD
N=docs/results/2026-12-08-h100-session29
patched_copy build/src_f "$R/$N/ready_flags.patch"
full_build build/src_f f &
one_config_build "$R" build/site_a "64" > "$L/build_a.txt" 2>&1 &
one_config_build build/src_f build/site_f "64" > "$L/build_f.txt" 2>&1 &
wait
stamp build
tail -n 1 "$L/full_build_f.txt" | tee -a "$L/times.txt"
pack
decode_ab_round 1 "$L" build/site_a build/site_f
stamp round1
pack
decode_ab_round 2 "$L" build/site_f build/site_a
cut -c1-150 "$L/decode_ab.txt"
cut -c1-140 "$L/decode_dense_ab.txt"
grep -E "B  8 ctx  32768 filled  32768|B  1 ctx 131072" "$L/select_ab.txt"
stamp rounds
pack
candidate_suite build/src_f f
stamp suite
pack
(cd build/src_f &&
  sanitize_line memcheck f 'Decode*:-DecodeSessions*' 150 "$L/memcheck_f.txt" &&
  sanitize_line racecheck f 'Decode.ManySplits*:Decode.OtherPageSizes*' 120 "$L/racecheck_f.txt" &&
  sanitize_line synccheck f 'Decode.ManySplits*:Decode.OtherPageSizes*' 90 "$L/synccheck_f.txt") \
  | tee -a "$L/times.txt"
stamp sanitizers
pack
patched_copy build/src_t "$R/docs/results/2026-12-08-h100-session28/trace_probe.patch"
patched_copy build/src_tf "$R/$N/ready_flags.patch" "$R/$N/trace_probe_flags.patch"
one_config_build build/src_t build/site_t "64" > "$L/build_t.txt" 2>&1 &
one_config_build build/src_tf build/site_tf "64" > "$L/build_tf.txt" 2>&1 &
wait
stamp trace_builds
for v in t tf; do
  PYTHONPATH=build/site_$v timeout 60 python3 docs/results/2026-12-07-h100-session27/trace_probe.py \
    sparse_decode read > "$L/trace_$v.md" 2>&1
done
grep -E "\| (median|max) \|" "$L/trace_t.md" "$L/trace_tf.md" | cut -c1-160 | head -40
stamp traces
pack
