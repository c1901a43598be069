#!/usr/bin/env bash
# Session 19, device call 1 (GEMM, bs 64 at 12.5%). From the repository root, carry ["third_party"]:
#   bash docs/results/2026-12-07-h100-session19/run1.sh    # about 400 s
# 1. Nsight Compute on this tree's bs 64 kernel at 12.5% and 50% (8192^3 bf16, one launch each,
#    with the L2 tables): why a 16-stage item streams its stages slower than a 64-stage one.
# 2. diag_g.patch (TA_DIAG_MAX_CLUSTERS caps the resident clusters, diagnostic only): bs 64 at
#    66 / 48 / 33 / 16 clusters. A per-SM rate that stays flat as SMs drop out says each SM's
#    own intake is the limit; one that rises says a shared level (L2, its fabric) is.
# 3. A/B, two rounds in opposite order at bs 64 and 128: a (this tree), h (cand_h.patch: A's
#    multicast share loaded evict-first and C stored with an L2 evict-first policy, so that the
#    single-use streams stop evicting B's reused slices) and h2 (cand_h2.patch: h, plus B loaded
#    evict-last).
R=$PWD
D=$R/docs/results/2026-12-07-h100-session19
source scripts/ab_tree.sh
ab_run_start
patched_copy $R/build/src_h $D/cand_h.patch
patched_copy $R/build/src_h2 $D/cand_h2.patch
patched_copy $R/build/src_g $D/diag_g.patch
one_config_build $R $R/build/site_a "64;128" > $L/build_a.log 2>&1 &
one_config_build $R/build/src_h $R/build/site_h "64;128" > $L/build_h.log 2>&1 &
one_config_build $R/build/src_h2 $R/build/site_h2 "64;128" > $L/build_h2.log 2>&1 &
one_config_build $R/build/src_g $R/build/site_g "64" > $L/build_g.log 2>&1 &
wait
stamp builds
tail -n 2 $L/build_*.log
pack
for density in 0.125 0.5; do
  PYTHONPATH=$R/build/site_a OUT=$R/build/profile SKIP=1 \
    NCU_EXTRA="--section MemoryWorkloadAnalysis_Tables" timeout 170 \
    bash scripts/profile/ncu.sh bsr_gemm "bs64_$density" -- \
    python3 benchmarks/bench_gemm.py --bs 64 --density $density --runs 1 --warmup 1
  echo "ncu $density rc=$?" >> $L/times.txt
  cp "$R/build/profile/bs64_$density.txt" "$R/build/profile/bs64_$density.log" $L/ 2>/dev/null
  stamp "ncu $density"
  grep -E "^ +(Duration|Memory Throughput|L2 Hit Rate|DRAM Throughput|L1/TEX Hit Rate|lts__t_bytes.sum|dram__bytes_read.sum)" \
    "$L/bs64_$density.txt" | head -12
  pack
done
for cap in 66 48 33 16; do
  TA_DIAG_MAX_CLUSTERS=$cap PYTHONPATH=$R/build/site_g timeout 100 python3 benchmarks/bench_gemm.py \
    --bs 64 --runs 10 > $L/cap_$cap.md 2>&1
  grep -E "top-k" $L/cap_$cap.md | grep -v "^ok" | cut -c1-170 | sed "s/^/cap $cap /" | tee -a $L/caps.txt
  stamp "cap $cap"
  pack
done
gemm_ab_round 1 $L 64,128 $R/build/site_a $R/build/site_h $R/build/site_h2
stamp "round 1"
pack
gemm_ab_round 2 $L 64,128 $R/build/site_h2 $R/build/site_h $R/build/site_a
stamp "round 2"
pack
