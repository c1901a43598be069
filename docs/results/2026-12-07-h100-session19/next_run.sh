#!/usr/bin/env bash
# Prepared for the next session (not run): the last ~1% of bs 64 at 12.5% (OPTIMIZATION_LOG,
# after GEMM step 17). From the repository root, carry ["third_party"]:
#   bash docs/results/2026-12-07-h100-session19/next_run.sh    # about 480 s
# Trees:
#   a:   this tree;
#   dyn: cand_dyn5.patch, session 18's run-time claims (dyn4: a claimer lane on producer warp 3,
#        a 256-byte workspace counter zeroed per call) rebased onto this tree. With every round
#        now full (64 clusters), a fast cluster can take a 17th item while a slow one stops at
#        15; at 66 clusters dyn4 gained ~1% on the other rows and nothing here, where the
#        half-empty 16th round decided the end. Prediction: bs 64 12.5% +0.5-1.5% (446 ->
#        449-453), the other rows +0-1%. racecheck flagged dyn4 (13 reports between a slot's read
#        and its next publish, the CTA-scope arrive it does not model): expect the same here;
#   w:   cand_wall.patch, the early stage release at bs 16/32 too (kBatchesInFlight = 0), which
#        session 19 did not time. Prediction: within +-2% (they are bound by re-reading B).
# dyn is built in full for the GEMM tests and sanitizers; every step packs $OUT/results.tgz.
R=$PWD
D=$R/docs/results/2026-12-07-h100-session19
source scripts/ab_tree.sh
ab_run_start
patched_copy $R/build/src_w $D/cand_wall.patch
one_config_build $R/build/src_w $R/build/site_w "16;32" > $L/build_w.log 2>&1 &
gemm_candidate_builds $D/cand_dyn5.patch
wait
gemm_ab_rounds
gemm_ab_round _small2 $L 16,32 $R/build/site_w $R/build/site_a
stamp "bs 16 and 32, w"
pack
gemm_checks $R/build/src_dyn $L dyn
stamp checks
pack
