#!/usr/bin/env bash
# Session 30, run 2 (~420 s, carry ["third_party"]): the whole suite and the sanitizers of the tree
# that run 1 keeps, before it lands: TREE=fpx (default), px, p, x or f; TREE=a runs them on main
# (which still needs them after step 32).
#   TREE=fpx bash docs/results/2026-12-08-h100-session30/run2.sh
source scripts/ab_tree.sh
ab_run_start
R=$PWD
N=docs/results/2026-12-08-h100-session30
F=$R/docs/results/2026-12-08-h100-session29/ready_flags.patch
T=${TREE:-fpx}
case $T in
  a) patches=() ;;
  f) patches=("$F") ;;
  p) patches=("$R/$N/l2_prefetch.patch") ;;
  x) patches=("$R/$N/evict_first.patch") ;;
  px) patches=("$R/$N/l2_prefetch.patch" "$R/$N/evict_first.patch") ;;
  fpx) patches=("$F" "$R/$N/flags_prefetch.patch" "$R/$N/evict_first.patch") ;;
  *) echo "unknown TREE $T" && exit 2 ;;
esac
echo "tree $T" | tee -a "$L/times.txt"
patched_copy build/src_$T "${patches[@]}"
full_build build/src_$T $T
stamp build
tail -n 1 "$L/full_build_$T.txt" | tee -a "$L/times.txt"
pack
candidate_suite build/src_$T $T
stamp suite
pack
(cd build/src_$T &&
  sanitize_line memcheck $T 'Decode*:-DecodeSessions*' 150 "$L/memcheck_$T.txt" &&
  sanitize_line racecheck $T 'Decode.ManySplits*:Decode.OtherPageSizes*' 120 "$L/racecheck_$T.txt" &&
  sanitize_line synccheck $T 'Decode.ManySplits*:Decode.OtherPageSizes*' 90 "$L/synccheck_$T.txt") \
  | tee -a "$L/times.txt"
stamp sanitizers
pack
