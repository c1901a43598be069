#!/usr/bin/env bash
# Session 17's one device call, and the next session's first: session 16's two prepared parts
# folded into one, the traces left out. From the repository root, carry ["third_party"]:
#   bash docs/results/2026-12-07-h100-session17/run1.sh [candidate patch]    # about 550 s
# Run in session 17 with session 16's cand_dyn.patch (the default), which hung (README.md here);
# next: docs/results/2026-12-07-h100-session17/cand_dyn2.patch, its register split fixed.
# Builds: this tree a as a one-config build, and dyn (a with the candidate, GEMM step 12) in full
# and as a one-config build (bs 16, 32, 64, 128).
# Then: the full suite on dyn (it holds decode step 19 too, which landed without a GPU run),
# bounded so that a hang leaves time for the rest; bench_decode.py on a (step 19's timing); GEMM
# A/B rounds 1 and 2 at bs 64 and 128 in opposite order; one round at bs 16 and 32. Every step
# packs $OUT/results.tgz.
R=$PWD
CANDIDATE=$(realpath "${1:-docs/results/2026-12-07-h100-session16/cand_dyn.patch}")
source scripts/ab_tree.sh
ab_run_start
gemm_candidate_builds "$CANDIDATE"
(cd $R/build/src_dyn && STEPS="cpp python sanitize" LOG_DIR=$L/suite_dyn \
  timeout 330 bash scripts/gpu_check.sh 2>&1 | tail -n 7 > $L/suite_dyn.txt)
stamp suite
cat $L/suite_dyn.txt
pack
PYTHONPATH=$R/build/site_a timeout 60 python3 benchmarks/bench_decode.py \
  --json $L/decode_a.json > $L/decode_a.md 2> $L/decode_a.err
stamp decode
grep -E "TriageAttention sparse_decode" $L/decode_a.md | cut -c1-150
pack
gemm_ab_rounds
