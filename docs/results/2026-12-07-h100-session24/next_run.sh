#!/usr/bin/env bash
# Prepared in session 24 for the next session's first device call (not run: run 3 never got a
# device). From the repository root, carry ["third_party"], ~450 s.
# 1. Decode step 20's arrival alone (next_arrival_acq_rel.patch: thread 0's acq_rel atomic
#    between two CTA barriers instead of a fence in every thread and one more in the last split)
#    as an A/B against this tree under the read flush, with the whole suite on the patched
#    full build. Prediction: sparse B8/32k and B1/128k -0.3 to -1 us (run 2 measured it only
#    beside the slower warp select: B1/128k -2.2 us there), dense rows unchanged.
# 2. Nsight Compute on the sparse decode kernel beside the plain read of the same 134 MB
#    (`bench_gather_ceiling`, 64-token random pages), to find where the decode's ~5 us over the
#    plain read go (its start, its per-chunk barrier, its split merge).
# 3. B8 at 64k and 128k under the read flush (session 23 measured them only under the write
#    flush).
# 4. Does the read flush evict? flush_probe.py at 8 MiB, which stays in the L2 when nothing
#    flushes. Prediction: no flush >= 5 TB/s; after either flush, a rate well under it.
source scripts/ab_tree.sh
ab_run_start
R=$PWD
S=docs/results/2026-12-07-h100-session24
patched_copy build/src_r "$R/$S/next_arrival_acq_rel.patch"
full_build build/src_r r &
one_config_build "$R" build/site_a "64" > "$L/build_a.txt" 2>&1 &
one_config_build build/src_r build/site_r "64" > "$L/build_r.txt" 2>&1 &
wait
stamp builds
candidate_suite build/src_r r
(cd build/src_r && bash scripts/sanitize.sh build/gpu > "$L/sanitize_r.txt" 2>&1; \
  echo "sanitize r rc=$?" | tee -a "$L/times.txt")
stamp suite
pack
decode_ab_round 1 "$L" build/site_a build/site_r
decode_ab_round 2 "$L" build/site_r build/site_a
stamp rounds
pack
PYTHONPATH=build/site_a timeout 150 python3 benchmarks/bench_decode.py \
  --cases 8:65536:sparse,8:131072:sparse --json "$L/decode_long.json" > "$L/decode_long.md" 2>&1
grep -E "^\| B" "$L/decode_long.md" | cut -c1-150 | tee -a "$L/times.txt"
stamp long
PYTHONPATH=build/site_a timeout 40 python3 $S/flush_probe.py 8 > "$L/flush_probe_8.md" 2>&1
tee -a "$L/times.txt" < "$L/flush_probe_8.md"
stamp probe
pack
mkdir -p "$L/ncu"
workload_ncu "$L" decode_kernel sparse_decode build/site_a
gather_ncu "$L" build/src_r/build/gpu/benchmarks/bench_gather_ceiling
ncu_summary "$L" sparse_decode gather_64_random
stamp ncu
pack
