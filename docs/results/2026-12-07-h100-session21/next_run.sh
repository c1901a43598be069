#!/usr/bin/env bash
# Prepared in session 21, not run (one device call fitted the session). From the repository
# root, carry ["third_party"]:  bash docs/results/2026-12-07-h100-session21/next_run.sh   # ~540 s
# Trees (one-config builds bs 16/32/64/128 bf16, installed side by side):
#   a:   this tree;
#   nr:  cand_no_prefetch.patch and cand_rank_order.patch here, which touch different kernels,
#        so kernel_times.py tells them apart:
#        np, the producer's L1 prefetch removed (session 21: the torch BSR GEMM kernel 313.0 ->
#        313.2 us with it; in the top-k form it skips the loads but still computes the next
#        item's schedule entry at every item start). Prediction: the torch BSR GEMM kernel
#        within +-0.3% of a, the top-k one the same or up to 0.3% faster; if so the simpler code
#        lands.
#        r, the general form's row order for up to 1,024 block-rows in one CTA that ranks each
#        row by counting the rows before it (longer, or as long with a lower index); CUB beyond.
#        Prediction: ~2 us of kernel for 128 rows against 1.3 + 4.2 us and a launch gap, so the
#        torch BSR rows +1% (bs 64 12.5% ~423 -> ~427). New sizes 1024/1025 in
#        BsrGemm.RowOrderIsLongestFirstAndStable cover both paths.
#   nrl: nr plus cand_look_ahead.patch: the consumers' walk computes the schedule entry of the
#        item after next (two 32-bit divisions) under the item's first wgmma batch instead of at
#        the item boundary. Why: session 21's 32-bit item arithmetic made the top-k GEMM kernel
#        0.9% faster (305.5 -> 302.7 us), so integer work at the boundary is on the critical
#        path (the next stages are loaded during the epilogue; the consumers' own work there
#        delays the tensor cores). Prediction: the top-k form +0.2-0.5% (bs 64 12.5% ~449 ->
#        ~450-451), the torch BSR form the same or more.
# Then Nsight Compute on one GEMM launch of each form in a: the general form's GEMM kernel runs
# 10 us behind the top-k form's at bs 64 12.5% with the same schedule, loads and epilogue (the
# workload is called without the torch profiler, which would share CUPTI with ncu). The whole
# suite on nrl last.
R=$PWD
S=$R/docs/results/2026-12-07-h100-session21
source scripts/ab_tree.sh
ab_run_start
patched_copy "$R/build/src_nr" "$S/cand_no_prefetch.patch" "$S/cand_rank_order.patch"
one_config_build "$R/build/src_nr" "$R/build/site_nr" "16;32;64;128" > "$L/build_nr.log" 2>&1 &
CAND=nrl gemm_candidate_builds "$S/cand_no_prefetch.patch" "$S/cand_rank_order.patch" \
  "$S/cand_look_ahead.patch"
wait
gemm_checks "$R/build/src_nrl" "$L" nrl
stamp checks
pack
gemm_kernel_times "$L" "$R/build/site_a" "$R/build/site_nr" "$R/build/site_nrl"
stamp "kernel times"
pack
gemm_ab_round 1 "$L" 64,128 "$R/build/site_a" "$R/build/site_nr" "$R/build/site_nrl"
gemm_ab_round 2 "$L" 64,128 "$R/build/site_nrl" "$R/build/site_nr" "$R/build/site_a"
stamp "rounds 1 and 2"
pack
for form in bsr_matmul_topk bsr_matmul_torch_bsr; do
  PYTHONPATH=$R/build/site_a OUT=$L/ncu timeout 90 bash scripts/profile/ncu.sh bsr_gemm_kernel \
    $form -- python3 -c "import sys, torch; sys.path.insert(0, 'scripts/profile')
import kernel_times as k
call = k.workloads(torch.Generator(device='cuda').manual_seed(0))['$form']()
for _ in range(4): call()
torch.cuda.synchronize()" > /dev/null 2>&1
  rm -f "$L/ncu/$form.ncu-rep"
done
stamp ncu
pack
candidate_suite "$R/build/src_nrl" nrl
stamp "suite on nrl"
pack
gemm_ab_round _small "$L" 16,32 "$R/build/site_a" "$R/build/site_nrl"
stamp "bs 16 and 32"
pack
