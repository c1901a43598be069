#!/usr/bin/env bash
# Session 30, run 1 (~520 s, carry ["third_party"]): decode steps 33-35 as one-config A/B trees.
#   a   main
#   f   session 29's per-pair ready flags (../2026-12-08-h100-session29/ready_flags.patch)
#   p   the selection's early L2 prefetch (l2_prefetch.patch): every selection CTA but rank 0
#       pulls the best page of each 32-page stretch of its last tile into L2 right after the
#       cluster barrier, while DRAM idles until the decode streams
#   x   read-once streams marked evict-first in L2 (evict_first.patch): the decode's K/V and the
#       selection's summaries
#   px  p + x
#   fpx f + p + x (flags_prefetch.patch on ready_flags.patch, then evict_first.patch)
# Then the sparse B8/32k timelines and, under Nsight Compute with the caches left alone between
# kernels, the decode kernel's DRAM bytes and L2 hit rate in a and px: whether the prefetched
# pages are still in L2 when the decode reads them (a reads ~134 MB; the prefetch is ~29 MB).
source scripts/ab_tree.sh
ab_run_start
R=$PWD
N=docs/results/2026-12-08-h100-session30
F=docs/results/2026-12-08-h100-session29/ready_flags.patch
patched_copy build/src_f "$R/$F"
patched_copy build/src_p "$R/$N/l2_prefetch.patch"
patched_copy build/src_x "$R/$N/evict_first.patch"
patched_copy build/src_px "$R/$N/l2_prefetch.patch" "$R/$N/evict_first.patch"
patched_copy build/src_fpx "$R/$F" "$R/$N/flags_prefetch.patch" "$R/$N/evict_first.patch"
one_config_build "$R" build/site_a "64" > "$L/build_a.txt" 2>&1 &
for v in f p x px fpx; do
  one_config_build build/src_$v build/site_$v "64" > "$L/build_$v.txt" 2>&1 &
done
wait
stamp build
ls -d build/site_*/triageattention | tee -a "$L/times.txt"
pack
decode_ab_round 1 "$L" build/site_a build/site_f build/site_p build/site_x build/site_px \
  build/site_fpx
stamp round1
pack
decode_ab_round 2 "$L" build/site_fpx build/site_px build/site_x build/site_p build/site_f \
  build/site_a
cut -c1-150 "$L/decode_ab.txt"
cut -c1-140 "$L/decode_dense_ab.txt"
grep -E "B  8 ctx  32768 filled  32768|B  1 ctx 131072" "$L/select_ab.txt"
stamp rounds
pack
decode_timelines "$L" build/site_a build/site_f build/site_px build/site_fpx
stamp timelines
pack
for v in a px; do
  PYTHONPATH=build/site_$v timeout 60 ncu --cache-control none --clock-control none \
    --kernel-name regex:decode_kernel --launch-skip 3 --launch-count 1 \
    --metrics dram__bytes_read.sum,lts__t_sector_hit_rate.pct python3 -c "
import sys, torch
sys.path.insert(0, 'scripts/profile')
import kernel_times as k
from triageattention.measure import Timer
call = k.workloads(torch.Generator(device='cuda').manual_seed(0))['sparse_decode']()
flush = Timer(l2_flush='read').flush_l2
for _ in range(5):
    flush()
    call()
torch.cuda.synchronize()" > "$L/ncu_l2_$v.txt" 2>&1
  echo "ncu $v: $(grep -E 'dram__bytes_read.sum|lts__t_sector_hit_rate.pct' "$L/ncu_l2_$v.txt" \
    | awk '{print $1, $(NF-1), $NF}' | tr '\n' ';')" | tee -a "$L/times.txt"
done
stamp ncu
pack
