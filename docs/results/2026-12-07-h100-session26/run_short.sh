#!/usr/bin/env bash
# Session 26's shorter call (~430 s), for when less than next_run.sh's ~580 s of device time is
# left: from main's root, carry ["third_party"]. The same trees less pr (a: main, c, p), one
# round each way, the timelines of a and p, and on p's full build the decode tests (gtest
# Decode*, test_decode.py) and the sanitizers. Not the whole suite: p changes only decode files
# (csrc/decode, and cp_async.cuh, which only the decode kernels include).
source scripts/ab_tree.sh
ab_run_start
R=$PWD
S=docs/results/2026-12-07-h100-session26
patched_copy build/src_c "$R/$S/cluster_select.patch"
patched_copy build/src_p "$R/$S/cluster_select_prefetch.patch"
full_build build/src_p p &
one_config_build "$R" build/site_a "64" > "$L/build_a.txt" 2>&1 &
one_config_build build/src_c build/site_c "64" > "$L/build_c.txt" 2>&1 &
one_config_build build/src_p build/site_p "64" > "$L/build_p.txt" 2>&1 &
wait
stamp builds
tail -n 2 "$L/full_build_p.txt" | tee -a "$L/times.txt"
decode_gtests build/src_p p
stamp decode_tests
pack
decode_ab_round 1 "$L" build/site_a build/site_c build/site_p
stamp round1
pack
decode_ab_round 2 "$L" build/site_p build/site_c build/site_a
stamp round2
cat "$L/decode_ab.txt" "$L/select_ab.txt" >> "$L/times.txt"
pack
decode_timelines "$L" build/site_a build/site_p
stamp timelines
pack
(cd build/src_p && sanitize_line memcheck p 'Decode.SelectionOfShortRows*:Decode.ManySplits*' 80 \
    "$L/memcheck_p.txt"
  timeout 100 python3 -m pytest tests/python/test_decode.py -q -x > "$L/pytest_decode_p.txt" 2>&1
  echo "pytest test_decode.py p rc=$? $(tail -n 1 "$L/pytest_decode_p.txt")"
  for tool in racecheck synccheck; do
    sanitize_line $tool p 'Decode.SelectionOfShortRows*' 60 "$L/${tool}_p.txt"
  done) | tee -a "$L/times.txt"
stamp checks
pack
