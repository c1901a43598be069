#!/usr/bin/env bash
# Prepared in session 25 for the next session's first device call (not run: the device time
# went to refused starts). From the repository root, carry ["third_party"], ~400 s.
# 1. Session 24's acq_rel arrival (r: next_arrival_acq_rel.patch) as an A/B against this tree
#    (a), with the decode tests (the new GridsOfManyCtasMatchReferenceAndReplay among them) and
#    the split-merge sanitizers on r's full build. Prediction: sparse B8/32k and B1/128k -0.3 to
#    -1 us, dense rows unchanged.
# 2. Nsight Compute on the selection and the decode kernels of sparse B8/32k beside the plain
#    read of the same pages (bench_gather_ceiling, 64-token random pages): where the ~27 us of
#    fixed cost sit (OPTIMIZATION_LOG, after decode step 21).
# 3. The 8 MiB flush probe (does the read flush evict?). Prediction: no flush >= 5 TB/s; after
#    either flush, a rate well under it.
source scripts/ab_tree.sh
ab_run_start
R=$PWD
patched_copy build/src_r "$R/docs/results/2026-12-07-h100-session24/next_arrival_acq_rel.patch"
full_build build/src_r r &
one_config_build "$R" build/site_a "64" > "$L/build_a.txt" 2>&1 &
one_config_build build/src_r build/site_r "64" > "$L/build_r.txt" 2>&1 &
wait
stamp builds
tail -n 1 "$L/full_build_r.txt" | tee -a "$L/times.txt"
(cd build/src_r && timeout 120 build/gpu/tests/triageattention_tests --gtest_filter='Decode*' \
  --gtest_brief=1 > "$L/gtest_decode_r.txt" 2>&1; \
  echo "gtest Decode* r rc=$? $(tail -n 2 "$L/gtest_decode_r.txt" | tr '\n' ' ')" | tee -a "$L/times.txt")
stamp tests
pack
round() {
  local tag=$1 site v
  shift
  for site in "$@"; do
    v=${site##*site_}
    PYTHONPATH=$site timeout 60 python3 benchmarks/bench_decode.py \
      --cases 8:32768:sparse,1:131072:sparse --json "$L/decode_$v$tag.json" \
      > "$L/decode_$v$tag.md" 2>&1
    grep -E "TriageAttention sparse_decode" "$L/decode_$v$tag.md" | cut -c1-150 \
      | sed "s/^/$v$tag /" | tee -a "$L/times.txt"
  done
}
round 1 build/site_a build/site_r
round 2 build/site_r build/site_a
stamp rounds
pack
(cd build/src_r && timeout 100 python3 -m pytest tests/python/test_decode.py -q -x \
  > "$L/pytest_decode_r.txt" 2>&1; echo "pytest decode r rc=$? $(tail -n 1 "$L/pytest_decode_r.txt")" \
  | tee -a "$L/times.txt")
split_merge_race_checks build/src_r "$L" r
stamp checks
pack
mkdir -p "$L/ncu"
workload_ncu "$L" select_kernel sparse_decode build/site_a sparse_select
workload_ncu "$L" decode_kernel sparse_decode build/site_a
gather_ceiling_build
gather_ncu "$L" build/bench_gather_ceiling
ncu_summary "$L" sparse_select sparse_decode gather_64_random
stamp ncu
pack
PYTHONPATH=build/site_a timeout 40 python3 docs/results/2026-12-07-h100-session24/flush_probe.py 8 \
  > "$L/flush_probe_8.md" 2>&1
tee -a "$L/times.txt" < "$L/flush_probe_8.md"
stamp probe
pack
