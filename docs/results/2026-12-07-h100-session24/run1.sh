#!/usr/bin/env bash
# Session 24 run 1, from the repository root, carry ["third_party"] (~250 s): is the ~2.3 TB/s
# "ceiling" of every 134 MB reader (session 23) the harness's own L2 flush? The flush zeroes 2x
# the L2, leaving ~50 MB of dirty lines that the timed run then writes back: 134 MB + 50 MB in
# 57.7 us is 3.19 TB/s, the DRAM rate the 1 GB readers show (cuDNN dense B8/32k: 1.07 GB + 50 MB
# in 0.354 ms, 3.17 TB/s). Prediction: after a read flush (clean lines) the 134 MB readers run at
# ~2.9-3.1 TB/s (gather kernel ~44-46 us, cuDNN dense B8/4k ~46-48 us), the 1 GiB reads ~4% faster,
# 32 MB after a read flush stays at a DRAM rate; sparse B8/32k 82 -> ~68-70 us (decode kernel
# 56.5 -> ~45, selection 18 -> ~16), about 2.0 TB/s and 5.0-5.2x cuDNN (whose B8/32k gains ~5%).
source scripts/ab_tree.sh
ab_run_start
S=docs/results/2026-12-07-h100-session24
gather_and_one_config_build build/site_run1 "64"
timeout 120 python3 $S/flush_probe.py > "$L/flush_probe.md" 2>&1
cat "$L/flush_probe.md" | tee -a "$L/times.txt"
stamp probe
pack
for f in read write; do
  timeout 60 build/bench_gather_ceiling --l2-flush $f > "$L/gather_$f.md" 2>&1
  sed "s/^/$f /" "$L/gather_$f.md" | grep "|" | tee -a "$L/times.txt"
done
stamp gather
pack
for f in read write; do
  PYTHONPATH=build/site_run1 timeout 200 python3 benchmarks/bench_decode.py --l2-flush $f \
    --json "$L/decode_$f.json" > "$L/decode_$f.md" 2>&1
  grep -E "^\| B|WRONG|raised|MISMATCH" "$L/decode_$f.md" | cut -c1-150 | sed "s/^/$f /" \
    | tee -a "$L/times.txt"
  stamp decode_$f
  pack
done
for f in read write none; do
  PYTHONPATH=build/site_run1 timeout 100 python3 scripts/profile/kernel_times.py sparse_decode \
    --l2-flush $f 2>&1 | grep -v -i warn | sed "s/^/$f /" | cut -c1-120 | tee -a "$L/times.txt"
done
stamp kernel_times
pack
