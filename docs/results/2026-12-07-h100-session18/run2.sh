#!/usr/bin/env bash
# Session 18's last device call (GEMM step 13). From the repository root, carry ["third_party"]:
#   bash docs/results/2026-12-07-h100-session18/run2.sh    # about 250 s
# Trees: a (this one), s (cand_stage32.patch: bs 64 stages 32 deep, six of them, with the
# producer at 48 registers and the consumers at 224, which the six stages need to avoid spills)
# and r (cand_regs224.patch: that register split alone, the control). One-config builds at bs 64,
# and s in full; two A/B rounds at bs 64 in opposite order; then the GEMM tests and sanitizers
# on s in the time left. Every step packs $OUT/results.tgz.
R=$PWD
D=$R/docs/results/2026-12-07-h100-session18
source scripts/ab_tree.sh
ab_run_start
patched_copy $R/build/src_s $D/cand_stage32.patch
patched_copy $R/build/src_r $D/cand_regs224.patch
full_build $R/build/src_s s &
for t in a s r; do
  src=$R/build/src_$t
  [ $t = a ] && src=$R
  one_config_build $src $R/build/site_$t "64" > $L/build_$t.log 2>&1 &
done
wait
stamp builds
tail -n 1 $L/full_build_s.txt
pack
gemm_ab_round 1 $L 64 $R/build/site_a $R/build/site_s $R/build/site_r
stamp "round 1"
pack
gemm_ab_round 2 $L 64 $R/build/site_r $R/build/site_s $R/build/site_a
stamp "round 2"
pack
gemm_checks $R/build/src_s $L s
stamp checks
pack
