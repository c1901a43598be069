#!/usr/bin/env bash
# Session 19, device call 4: the landing tree (h's cache hints + the balanced cluster count).
# From the repository root, carry ["third_party"]:
#   bash docs/results/2026-12-07-h100-session19/run4.sh    # about 550 s
# gpu_check.sh's full build, SASS check, C++ and Python suites and sanitizers on this tree, and
# an A/B of one-config builds: a (this tree), o (old_kernel.patch: the session's starting kernel)
# and w (cand_w0.patch: each stage freed as soon as its wgmma batch is done, wait<0>, instead of
# once the next stage has arrived). Every step packs $OUT/results.tgz.
R=$PWD
D=$R/docs/results/2026-12-07-h100-session19
source scripts/ab_tree.sh
ab_run_start
patched_copy $R/build/src_o $D/old_kernel.patch
patched_copy $R/build/src_w $D/cand_w0.patch
(STEPS="build sass" LOG_DIR=$L/suite bash scripts/gpu_check.sh > $L/suite_build.txt 2>&1) &
one_config_build $R $R/build/site_a "16;32;64;128" > $L/build_a.log 2>&1 &
one_config_build $R/build/src_o $R/build/site_o "16;32;64;128" > $L/build_o.log 2>&1 &
one_config_build $R/build/src_w $R/build/site_w "64;128" > $L/build_w.log 2>&1 &
wait
stamp builds
tail -n 3 $L/suite_build.txt
pack
gemm_ab_round 1 $L 64,128 $R/build/site_a $R/build/site_o $R/build/site_w
stamp "round 1"
pack
(STEPS="cpp python" LOG_DIR=$L/suite bash scripts/gpu_check.sh > $L/suite_tests.txt 2>&1)
stamp tests
tail -n 4 $L/suite_tests.txt
pack
gemm_ab_round 2 $L 64,128 $R/build/site_w $R/build/site_o $R/build/site_a
stamp "round 2"
pack
gemm_ab_round _small $L 16,32 $R/build/site_a $R/build/site_o
stamp "bs 16 and 32"
pack
(STEPS="sanitize" LOG_DIR=$L/suite bash scripts/gpu_check.sh > $L/suite_sanitize.txt 2>&1)
stamp sanitize
tail -n 3 $L/suite_sanitize.txt
pack
