#!/usr/bin/env bash
# Prepared in session 26 for the next session's first device call (not run: no device was lent
# this session). From the repository root of main, carry ["third_party"] (~560 s).
# Decode step 22 (c: cluster_select.patch, rows of one tile per CTA selected by the whole
# cluster) and step 23 (p: cluster_select_prefetch.patch, c plus the selection prefetching the
# first 128 tokens of every decode split into L2) against main (a), and p with session 24's
# acq_rel arrival (pr), under the read flush; the decode tests (Decode.SelectionByTheCluster*
# among them), sanitizers and the whole suite on p's full build.
# Predictions (sparse B8/32k, main 0.0733 ms, 4.7x cuDNN): c -2.5 to -3.5 us (select_times.py
# B8/32k the same), p a further -2 to -3.5 us (DRAM busy through the gap between the winners
# and the decode's first copies), pr a further -0.3 to -1 us; B1/128k: p -1 to -3 us, c none
# (rank 0's select); dense rows unchanged (no selection); every output's sha256 unchanged.
# If p is kept: apply cluster_select_prefetch.patch and decode_md.patch on main.
source scripts/ab_tree.sh
ab_run_start
R=$PWD
S=docs/results/2026-12-07-h100-session26
patched_copy build/src_c "$R/$S/cluster_select.patch"
patched_copy build/src_p "$R/$S/cluster_select_prefetch.patch"
patched_copy build/src_pr "$R/$S/cluster_select_prefetch.patch" \
  "$R/docs/results/2026-12-07-h100-session24/next_arrival_acq_rel.patch"
full_build build/src_p p &
one_config_build "$R" build/site_a "64" > "$L/build_a.txt" 2>&1 &
one_config_build build/src_c build/site_c "64" > "$L/build_c.txt" 2>&1 &
one_config_build build/src_p build/site_p "64" > "$L/build_p.txt" 2>&1 &
one_config_build build/src_pr build/site_pr "64" > "$L/build_pr.txt" 2>&1 &
wait
stamp builds
tail -n 2 "$L/full_build_p.txt" | tee -a "$L/times.txt"
(cd build/src_p && timeout 150 build/gpu/tests/triageattention_tests --gtest_filter='Decode*' \
  --gtest_brief=1 > "$L/gtest_decode_p.txt" 2>&1; \
  echo "gtest Decode* p rc=$? $(tail -n 3 "$L/gtest_decode_p.txt" | tr '\n' ' ')" | tee -a "$L/times.txt")
stamp decode_tests
pack
for v in a c p; do
  PYTHONPATH=build/site_$v timeout 60 python3 scripts/profile/kernel_times.py sparse_decode \
    --l2-flush read --timeline 2>&1 | grep -v -i warn | cut -c1-130 | sed "s/^/$v /" \
    | tee -a "$L/times.txt"
  PYTHONPATH=build/site_$v timeout 30 python3 scripts/profile/select_times.py 2>&1 \
    | sed "s/^/$v /" | tee -a "$L/times.txt"
done
stamp timelines
pack
bench_round() {  # round tag, then sites: bench_decode.py's standard cases
  local round=$1 site v
  shift
  for site in "$@"; do
    v=${site##*site_}
    PYTHONPATH=$site timeout 60 python3 benchmarks/bench_decode.py \
      --json "$L/decode_$v$round.json" > "$L/decode_$v$round.md" 2> "$L/decode_$v$round.err"
    grep -E "TriageAttention sparse_decode|cuDNN" "$L/decode_$v$round.md" | cut -c1-150 \
      | sed "s/^/$v$round /" | tee -a "$L/decode_ab.txt" | grep "topk" | tee -a "$L/times.txt"
  done
}
bench_round 1 build/site_a build/site_c build/site_p build/site_pr
stamp round1
pack
bench_round 2 build/site_pr build/site_p build/site_c build/site_a
stamp round2
pack
(cd build/src_p && for tool in memcheck racecheck synccheck; do
  sanitize_line $tool p 'Decode.SelectionBy*:Decode.Grids*' 90 "$L/${tool}_p.txt"
done) | tee -a "$L/times.txt"
stamp sanitizers
pack
for v in a p; do
  PYTHONPATH=build/site_$v timeout 100 python3 benchmarks/bench_decode.py \
    --cases 8:65536:sparse,64:4096:sparse,4:32768:sparse \
    --json "$L/decode_more_$v.json" > "$L/decode_more_$v.md" 2>&1
  grep -E "topk|cuDNN" "$L/decode_more_$v.md" | cut -c1-150 | sed "s/^/$v /" | tee -a "$L/times.txt"
done
stamp more_cases
pack
candidate_suite build/src_p p
stamp suite
pack
