#!/usr/bin/env bash
# Session 18's second and third device calls. From the repository root, carry ["third_party"]:
#   bash docs/results/2026-12-07-h100-session18/run1.sh [candidate patch]    # about 550 s
# The candidate (default cand_dyn3.patch here: GEMM step 12 with the claims' costs moved off the
# critical path) against this tree: builds (a and dyn one-config, bs 16/32/64/128; dyn in full),
# GEMM A/B rounds 1 and 2 at bs 64 and 128 in opposite order and one round at bs 16 and 32, then
# the full suite on dyn (C++, Python, sanitizers) in whatever time is left. Every step packs
# $OUT/results.tgz.
R=$PWD
CANDIDATE=$(realpath "${1:-docs/results/2026-12-07-h100-session18/cand_dyn3.patch}")
source scripts/ab_tree.sh
ab_run_start
patched_copy $R/build/src_dyn "$CANDIDATE"
full_build $R/build/src_dyn dyn &
one_config_build $R $R/build/site_a "16;32;64;128" > $L/build_a.log 2>&1 &
one_config_build $R/build/src_dyn $R/build/site_dyn "16;32;64;128" > $L/build_dyn.log 2>&1 &
wait
stamp builds
tail -n 1 $L/full_build_dyn.txt
pack
gemm_ab_round 1 $L 64,128 $R/build/site_a $R/build/site_dyn
stamp "round 1"
pack
gemm_ab_round 2 $L 64,128 $R/build/site_dyn $R/build/site_a
stamp "round 2"
pack
gemm_ab_round _small $L 16,32 $R/build/site_a $R/build/site_dyn
stamp "bs 16 and 32"
pack
left=$(( 575 - ($(date +%s) - ab_started) ))
(cd $R/build/src_dyn && STEPS="cpp python sanitize" LOG_DIR=$L/suite_dyn \
  timeout $left bash scripts/gpu_check.sh 2>&1 | tail -n 7 > $L/suite_dyn.txt)
stamp "suite (limit $left s)"
cat $L/suite_dyn.txt
grep -E "^=========     at " $L/suite_dyn/sanitize.log | sed 's/+0x[0-9a-f]*//' | sort | uniq -c | head
pack
