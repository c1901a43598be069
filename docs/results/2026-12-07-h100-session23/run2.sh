#!/usr/bin/env bash
# Session 23 run 2, from the repository root, carry ["third_party"] (~250 s): how fast can
# 134 MB (sparse B8/32k's selected K/V) be read at all on this device? Issue #5's 2.4 TB/s bar
# asks the whole sparse call (selection included) to take <= 56 us for those bytes; run 1's
# bench_gather_ceiling read them in the decode's pattern in 57.5-58.5 us (2.30 TB/s), and
# contiguously at 2.34-2.37. Here, in one run on one device: the read kernel at 64 to 512 CTAs
# (--splits 1, 2, 4, 8), cuDNN and our dense decode on B8/4k (the same 134 MB, no selection),
# torch's copy of 64 MiB (134 MB of traffic) and 512 MiB, and our decode's kernels alone.
# Prediction: no reader above ~2.5 TB/s on 134 MB (one wave; ramp and tail ~10 us), so the
# 2.4 TB/s bar needs the selection hidden entirely and a read faster than cuDNN's.
source scripts/ab_tree.sh
ab_run_start
STEPS="build" LOG_DIR="$L/check" bash scripts/gpu_check.sh 2>&1 | tail -n 3 | tee -a "$L/times.txt"
stamp build
pack
for s in 1 2 4 8; do
  timeout 60 build/gpu/benchmarks/bench_gather_ceiling --splits $s > "$L/gather_s$s.md" 2>&1
  grep -E "^\| (random|contig)" "$L/gather_s$s.md" | sed "s/^/splits $s /" | tee -a "$L/times.txt"
done
stamp gather
pack
timeout 150 python3 benchmarks/bench_decode.py --json "$L/decode.json" > "$L/decode.md" 2>&1
grep -E "^\| B" "$L/decode.md" | cut -c1-150 | tee -a "$L/times.txt"
stamp decode
pack
for mib in 64 512; do
  timeout 60 python3 benchmarks/bench_ceilings.py --copy-mib $mib > "$L/ceilings_$mib.md" 2>&1
  grep -E "copy" "$L/ceilings_$mib.md" | cut -c1-150 | tee -a "$L/times.txt"
done
stamp ceilings
timeout 60 python3 scripts/profile/kernel_times.py sparse_decode > "$L/kernel_times.txt" 2>&1
tail -n 12 "$L/kernel_times.txt" | tee -a "$L/times.txt"
stamp kernel_times
pack
