#!/usr/bin/env bash
# Prepared in session 28 for the next session's first device call, from the repository root,
# carry ["third_party"], ~350 s. Step 32 (sk) landed with the decode gtests and benchmarks only:
# first the whole suite on main (ctest, pytest with the >16384-page selection test, the
# sanitizers), then the per-CTA stamps of main (trace_probe.patch: session 27's probe rebased
# onto session 28's main; read by session 27's trace_probe.py), which say where the remaining
# ~3 us to the 5x bar sit now.
source scripts/ab_tree.sh
ab_run_start
R=$PWD
N=docs/results/2026-12-08-h100-session28
patched_copy build/src_t "$R/$N/trace_probe.patch"
one_config_build build/src_t build/site_t "64" > "$L/build_t.txt" 2>&1 &
STEPS="build sass cpp python sanitize" LOG_DIR="$L/suite" bash scripts/gpu_check.sh 2>&1 \
  | tail -n 8 | tee -a "$L/times.txt"
wait
stamp suite
pack
PYTHONPATH=build/site_t timeout 60 python3 docs/results/2026-12-07-h100-session27/trace_probe.py \
  sparse_decode read > "$L/trace_t.md" 2>&1
grep -E "\| (median|max) \||phase us \(clock64, median" "$L/trace_t.md" | head -60
stamp probe
pack
