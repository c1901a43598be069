#!/usr/bin/env bash
# Prepared in session 13 for a second device call of the next session (after next_run.sh), from
# the repository root, with carry ["third_party"], about 350 s:
#   bash docs/results/2026-12-06-h100-session13/next_run2.sh
# Candidate m (cand_m.patch, OPTIMIZATION_LOG decode step 17): the splits of a row block run as
# one thread-block cluster when they are at most 8, keep their partials in shared memory and
# merge them through distributed shared memory (no arrival counter, no partials in global
# memory, no memset before a dense decode); more splits merge through the workspace as before.
# 1. Full build of m (tests) and one-config builds of this tree (a) and m, in parallel.
# 2. Two A/B rounds of the decode benchmarks (sparse and dense rows).
# 3. On m: ctest Decode* and Triage*, test_decode.py and test_triage.py, memcheck on both,
#    racecheck and synccheck on Decode.ManySplits* (both merge forms) and Decode.OtherPageSizes*.
# Every step packs $OUT/results.tgz.
R=$PWD; L=$OUT/logs; H=$R/docs/results/2026-12-06-h100-session13; mkdir -p $L
pack() { tar czf $OUT/results.tgz -C $OUT logs; }
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader > $L/device.txt
source scripts/ab_tree.sh
start=$(date +%s)
patched_copy $R/build/src_m $H/cand_m.patch
(cd $R/build/src_m && STEPS="build" LOG_DIR=$L/full_m bash scripts/gpu_check.sh > $L/full_build_m.txt 2>&1) &
one_config_build $R/build/src_m $R/build/site_m 64 > $L/build_m.log 2>&1 &
one_config_build $R $R/build/site_a 64 > $L/build_a.log 2>&1 &
wait
echo "builds: $(( $(date +%s) - start )) s" | tee $L/times.txt
tail -n 1 $L/full_build_m.txt
pack
for r in 1 2; do
  decode_ab_round $r $L $R/build/site_m $R/build/site_a
  pack
done
decode_triage_checks $R/build/src_m $L m
pack
split_merge_race_checks $R/build/src_m $L m
echo "all done: $(( $(date +%s) - start )) s" | tee -a $L/times.txt
pack
cut -c1-150 $L/decode_ab.txt $L/decode_dense_ab.txt
