#!/usr/bin/env bash
# Session 20, call 3: the general (torch BSR) form of bsr_matmul ran 5-6% below the fixed top-k
# form at bs 64/128 12.5% (416-420 against 445-447 TFLOP/s in call 2). From the repository root,
# carry ["third_party"]:  bash docs/results/2026-12-07-h100-session20/run3.sh   # ~360 s
# Trees:
#   a: this tree;
#   g: cand_walk.patch: the consumers read each item's row order two items ahead and its crow
#      range one item ahead (BsrItemWalk), instead of two dependent L2 loads at every item start.
#      Prediction: the torch BSR rows gain most of their gap (bs 64 12.5% 418 -> 435-445,
#      bs 128 12.5% 584 -> 600-612), the top-k rows within +-0.5% (no loads in that form).
# kernel_times.py splits one call of each form into its kernels (row lengths, CUB sort, GEMM).
R=$PWD
D=$R/docs/results/2026-12-07-h100-session20
source scripts/ab_tree.sh
ab_run_start
gemm_candidate_builds $D/cand_walk.patch
for v in a dyn; do
  for w in bsr_matmul_topk bsr_matmul_torch_bsr; do
    PYTHONPATH=$R/build/site_$v timeout 60 python3 scripts/profile/kernel_times.py $w 2>&1 \
      | grep -v "beta" | sed "s/^/$v /" | tee -a $L/kernel_times.txt
  done
done
stamp "kernel times"
pack
gemm_ab_rounds
gemm_checks $R/build/src_dyn $L dyn
stamp checks
pack
