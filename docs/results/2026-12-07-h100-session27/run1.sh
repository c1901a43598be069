#!/usr/bin/env bash
# Session 27, run 1 (~150 s, carry ["third_party"]): where the sparse B8/32k call's time goes,
# from per-CTA globaltimer/clock64 stamps (trace_probe.patch, a probe, never for main) in both
# kernels; sparse B8/32k, the dense B8/4k decode (the same bytes, no selection) and B1/128k.
source scripts/ab_tree.sh
ab_run_start
R=$PWD
S=docs/results/2026-12-07-h100-session27
patched_copy build/src_t "$R/$S/trace_probe.patch"
one_config_build build/src_t build/site_t "64" > "$L/build_t.txt" 2>&1
stamp build
for w in sparse_decode dense_decode_4k; do
  PYTHONPATH=build/site_t timeout 60 python3 $S/trace_probe.py $w > "$L/trace_$w.md" 2>&1
  cat "$L/trace_$w.md"
done
stamp probe
pack
