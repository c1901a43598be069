#!/usr/bin/env bash
# Session 19, device call 3 (GEMM, after h). From the repository root, carry ["third_party"]:
#   bash docs/results/2026-12-07-h100-session19/run3.sh    # about 300 s
# Run 2: h (cand_h.patch) +1.1% at bs 64 and +3% at bs 128 (12.5%), DRAM reads 437 -> 376 MB;
# Lts2xbar (L2 to crossbar) is the busiest unit at 80%. Trees, each h plus one change:
#   h4 (cand_h4.patch): A's share evict-last instead of evict-first (A, 16 MB, is re-read from
#       DRAM once per band: keep it);
#   hs (cand_hs.patch): bands alternate direction, so each band starts on the rows whose A the
#       previous band read last;
#   hg (cand_hg.patch, TA_DIAG_MAX_CLUSTERS): 64 clusters (16 whole rounds of the 1024 items)
#       against 66 (15.5 rounds), since an L2-bound item runs faster when fewer SMs share L2.
R=$PWD
D=$R/docs/results/2026-12-07-h100-session19
source scripts/ab_tree.sh
ab_run_start
for t in h h4 hs hg; do
  patched_copy $R/build/src_$t $D/cand_$t.patch
  one_config_build $R/build/src_$t $R/build/site_$t "64;128" > $L/build_$t.log 2>&1 &
done
wait
stamp builds
pack
cap_round() {
  local cap
  for cap in "$@"; do
    TA_DIAG_MAX_CLUSTERS=$cap PYTHONPATH=$R/build/site_hg timeout 100 python3 \
      benchmarks/bench_gemm.py --bs 64 --runs 20 > $L/cap_$cap$round.md 2>&1
    grep -E "top-k" $L/cap_$cap$round.md | grep -v "^ok" | cut -c1-170 | sed "s/^/cap $cap$round /" \
      | tee -a $L/gemm_ab.txt
  done
}
round=1
gemm_ab_round 1 $L 64,128 $R/build/site_h $R/build/site_h4 $R/build/site_hs
cap_round 64 66
stamp "round 1"
pack
round=2
cap_round 66 64
gemm_ab_round 2 $L 64,128 $R/build/site_hs $R/build/site_h4 $R/build/site_h
stamp "round 2"
pack
