#!/usr/bin/env bash
# Session 16, first device call (from the repository root, carry ["third_party"], ~480 s):
#   bash docs/results/2026-12-07-h100-session16/run1.sh
# Session 15's prepared decode call (decode step 18: t and tf against this tree a), its steps
# reordered so that a call cut short (little device time was left) still returns the A/B, with
# the GEMM trace (gemm_trace.patch, trace_gemm.py) built beside the rest: builds; decode A/B
# round 1; GEMM trace; tf's checks; round 2; per-kernel spans.
R=$PWD; H=$R/docs/results/2026-12-07-h100-session16; H15=$R/docs/results/2026-12-07-h100-session15
source scripts/ab_tree.sh
ab_run_start
patched_copy $R/build/src_t $H15/cand_t.patch
patched_copy $R/build/src_tf $H15/cand_tf.patch
patched_copy $R/build/src_gt $H/gemm_trace.patch
full_build $R/build/src_tf tf &
for v in t tf gt; do
  one_config_build $R/build/src_$v $R/build/site_$v 64 > $L/build_$v.log 2>&1 &
done
one_config_build $R $R/build/site_a 64 > $L/build_a.log 2>&1 &
nvcc -arch=sm_90a -o $OUT/cluster_probe $R/docs/results/2026-12-06-h100-session13/cluster_probe.cu \
  && $OUT/cluster_probe 128 100 > $L/cluster_probe_decode.txt 2>&1
rm -f $OUT/cluster_probe
wait
stamp builds
tail -n 1 $L/full_build_tf.txt
pack
decode_ab_round 1 $L $R/build/site_a $R/build/site_t $R/build/site_tf
stamp "round 1"
pack
for d in 0.125 0.5; do
  PYTHONPATH=$R/build/site_gt timeout 120 python3 $H/trace_gemm.py --bs 64 --density $d \
    > $L/gemm_trace_bs64_$d.txt 2>&1
done
stamp "gemm trace"
pack
decode_triage_checks $R/build/src_tf $L tf
split_merge_race_checks $R/build/src_tf $L tf
stamp checks
pack
decode_ab_round 2 $L $R/build/site_tf $R/build/site_t $R/build/site_a
stamp "round 2"
pack
for v in a t tf; do
  for op in sparse_decode dense_decode; do
    PYTHONPATH=$R/build/site_$v timeout 60 python3 scripts/profile/kernel_times.py $op \
      > $L/kernel_times_${op}_$v.txt 2>&1
  done
done
stamp "all done"
pack
cat $L/gemm_trace_bs64_*.txt
tail -n 4 $L/kernel_times_*.txt
cat $L/cluster_probe_decode.txt
cut -c1-150 $L/decode_ab.txt $L/decode_dense_ab.txt
grep -E " B  8 ctx  32768 filled  32768| B  1 ctx 131072" $L/select_ab.txt
