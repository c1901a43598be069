#!/usr/bin/env bash
# Prepared in session 26 for the next session's first device call (not run: every device call of
# session 26 was refused). From the repository root of main, carry ["third_party"], ~580 s;
# SHORT=1 (~430 s, for when less device time is left) drops pr, the timeline of c, the whole
# suite (p changes only decode files) and the extra cases, and runs test_decode.py instead.
# Decode step 22 (c: cluster_select.patch, rows of one tile per CTA selected by the whole
# cluster) and step 23 (p: cluster_select_prefetch.patch, c plus the selection prefetching the
# first 128 tokens of every split of the decode's first wave into L2) against main (a), and p
# with session 24's acq_rel arrival (pr), under the read flush; the decode tests
# (Decode.SelectionOfShortRows* among them), sanitizers and the whole suite on p's full build.
# Ordered by what a decision needs first; each step is packed as it ends, so a call cut at its
# limit loses only the last steps.
# Predictions (sparse B8/32k, main 0.0733 ms, 4.7x cuDNN): c -2.5 to -3.5 us (select_times.py
# B8/32k the same), p a further -2 to -3.5 us (DRAM busy through the gap between the winners
# and the decode's first copies), pr a further -0.3 to -1 us; B1/128k: p -1 to -3 us, c none
# (rank 0's select); dense rows unchanged (no selection); every output's sha256 unchanged.
# If p is kept: apply cluster_select_prefetch.patch and decode_md.patch on main.
source scripts/ab_tree.sh
ab_run_start
R=$PWD
S=docs/results/2026-12-07-h100-session26
sites="build/site_a build/site_c build/site_p"
patched_copy build/src_c "$R/$S/cluster_select.patch"
patched_copy build/src_p "$R/$S/cluster_select_prefetch.patch"
full_build build/src_p p &
one_config_build "$R" build/site_a "64" > "$L/build_a.txt" 2>&1 &
one_config_build build/src_c build/site_c "64" > "$L/build_c.txt" 2>&1 &
one_config_build build/src_p build/site_p "64" > "$L/build_p.txt" 2>&1 &
if [ -z "$SHORT" ]; then
  sites="$sites build/site_pr"
  patched_copy build/src_pr "$R/$S/cluster_select_prefetch.patch" \
    "$R/docs/results/2026-12-07-h100-session24/next_arrival_acq_rel.patch"
  one_config_build build/src_pr build/site_pr "64" > "$L/build_pr.txt" 2>&1 &
fi
wait
stamp builds
tail -n 2 "$L/full_build_p.txt" | tee -a "$L/times.txt"
decode_gtests build/src_p p
stamp decode_tests
pack
# bench_decode.py's standard cases and select_times.py per site (decode_ab.txt,
# decode_dense_ab.txt, select_ab.txt), two rounds in opposite order.
decode_ab_round 1 "$L" $sites
stamp round1
pack
decode_ab_round 2 "$L" $(echo $sites | tr ' ' '\n' | tac)
stamp round2
cat "$L/decode_ab.txt" "$L/select_ab.txt" >> "$L/times.txt"
pack
timeline_sites="build/site_a build/site_p"
[ -z "$SHORT" ] && timeline_sites="$timeline_sites build/site_c"
decode_timelines "$L" $timeline_sites
stamp timelines
pack
# The cluster select (SelectionOfShortRows*) and the prefetch with split merges (ManySplits*).
(cd build/src_p && sanitize_line memcheck p 'Decode.SelectionOfShortRows*:Decode.ManySplits*' 80 \
    "$L/memcheck_p.txt"
  for tool in racecheck synccheck; do
    sanitize_line $tool p 'Decode.SelectionOfShortRows*' 60 "$L/${tool}_p.txt"
  done) | tee -a "$L/times.txt"
stamp sanitizers
pack
if [ -n "$SHORT" ]; then
  (cd build/src_p && timeout 100 python3 -m pytest tests/python/test_decode.py -q -x \
    > "$L/pytest_decode_p.txt" 2>&1
  echo "pytest test_decode.py p rc=$? $(tail -n 1 "$L/pytest_decode_p.txt")") | tee -a "$L/times.txt"
  pack
  exit 0
fi
candidate_suite build/src_p p
stamp suite
pack
for v in a p; do
  PYTHONPATH=build/site_$v timeout 100 python3 benchmarks/bench_decode.py \
    --cases 8:65536:sparse,64:4096:sparse,4:32768:sparse \
    --json "$L/decode_more_$v.json" > "$L/decode_more_$v.md" 2>&1
  grep -E "topk|cuDNN" "$L/decode_more_$v.md" | cut -c1-150 | sed "s/^/$v /" | tee -a "$L/times.txt"
done
stamp more_cases
pack
