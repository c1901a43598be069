#!/usr/bin/env bash
# Session 23 run 3, from the repository root, carry ["third_party"] (~200 s): does the sparse
# decode's rate of selected K/V rise once the read is long enough to amortize the ramp and tail
# that cap every 134 MB reader in run 2 (cuDNN dense B8/4k 2.15 TB/s, the plain read kernel
# 2.22-2.37)? The same benchmark at B8 and 32k, 64k and 128k contexts, topk 1/8 of the pages
# (134, 268 and 537 MB of selected K/V), dense rows and SDPA beside them.
# Also two other kinds of reader of 134 MB: the plain read kernel at 1024 CTAs of 4 pages
# (several waves, balanced by the hardware), and torch's reductions (torch_reads.py).
# Prediction: sparse B8/128k at 2.3-2.6 TB/s and 6-7x cuDNN dense (whose rate stays ~3.0),
# B8/64k between; the selection's share of the call falls as the context grows. No 134 MB reader
# above ~2.5 TB/s.
source scripts/ab_tree.sh
ab_run_start
gather_and_one_config_build build/site_run3 "64"
PYTHONPATH=build/site_run3 timeout 300 python3 benchmarks/bench_decode.py \
  --cases 8:32768:sparse,8:65536:sparse,8:131072:sparse --json "$L/decode.json" \
  > "$L/decode.md" 2>&1
grep -E "^\| B|ok:|WRONG|raised" "$L/decode.md" | cut -c1-160 | tee -a "$L/times.txt"
stamp decode
pack
timeout 40 build/bench_gather_ceiling --splits 16 > "$L/gather_s16.md" 2>&1
PYTHONPATH=build/site_run3 timeout 60 python3 docs/results/2026-12-07-h100-session23/torch_reads.py \
  > "$L/torch_reads.md" 2>&1
cat "$L/gather_s16.md" "$L/torch_reads.md" | tee -a "$L/times.txt"
stamp reads
pack
