#!/usr/bin/env bash
# Prepared in session 15 for the next session's first device call (from the repository root,
# carry ["third_party"], about 400 s):
#   bash docs/results/2026-12-07-h100-session15/next_run.sh
# OPTIMIZATION_LOG decode step 18: does one split-KV CTA per SM stream as fast as two, and,
# if so, can the decode's CTAs then sit beside the selection's and stream each pair as soon
# as its pages are chosen?
#   a  = this tree;
#   t  = cand_t.patch: kTargetCtas 256 -> 128 (one decode CTA of ~100 KB per SM);
#   tf = cand_tf.patch: t plus per-pair ready flags in place of the grid-wide wait (session 7's
#        next_decode_ready_flags.patch, rebased, with a griddepcontrol.wait after the streaming
#        so that the selection's end stays ordered before later work in the stream).
# 1. Full build of tf (tests); one-config builds of a, t, tf; resident clusters of decode-sized
#    CTAs (why step 17's cluster merge lost).
# 2. A/B round 1 (a, t, tf); on tf: ctest Decode|Triage, test_decode.py, test_triage.py,
#    memcheck, racecheck and synccheck on the split merges; A/B round 2 (tf, t, a);
#    kernel_times.py sparse_decode and dense_decode on each.
# Every step packs $OUT/results.tgz. Land t or tf only if the checks pass (for t: run them) and
# it beats a by more than 1% at sparse B8/32k without losing more than 1% on the dense rows;
# then the full scripts/gpu_check.sh.
R=$PWD; H=$R/docs/results/2026-12-07-h100-session15
source scripts/ab_tree.sh
ab_run_start
patched_copy $R/build/src_t $H/cand_t.patch
patched_copy $R/build/src_tf $H/cand_tf.patch
full_build $R/build/src_tf tf &
for v in t tf; do
  one_config_build $R/build/src_$v $R/build/site_$v 64 > $L/build_$v.log 2>&1 &
done
one_config_build $R $R/build/site_a 64 > $L/build_a.log 2>&1 &
# Why step 17's cluster merge lost: resident clusters of decode-sized CTAs (128 threads, ~100 KB).
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
decode_triage_checks $R/build/src_tf $L tf
split_merge_race_checks $R/build/src_tf $L tf
stamp checks
pack
decode_ab_round 2 $L $R/build/site_tf $R/build/site_t $R/build/site_a
stamp "round 2"
pack
for v in a t tf; do  # per-kernel spans: the decode kernel alone at one CTA per SM (t)
  for op in sparse_decode dense_decode; do
    PYTHONPATH=$R/build/site_$v timeout 60 python3 scripts/profile/kernel_times.py $op \
      > $L/kernel_times_${op}_$v.txt 2>&1
  done
done
stamp "all done"
pack
tail -n 4 $L/kernel_times_*.txt
cat $L/cluster_probe_decode.txt
cut -c1-150 $L/decode_ab.txt $L/decode_dense_ab.txt
grep -E " B  8 ctx  32768 filled  32768| B  1 ctx 131072" $L/select_ab.txt
