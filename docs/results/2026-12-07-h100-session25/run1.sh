#!/usr/bin/env bash
# Session 25 run 1, from the repository root of 4810d57 with two_stages.patch applied (the tree it
# ran on; main reverted it after this run), carry ["third_party"] (~320 s). Decode step 21:
# sparse calls in two stages of sequences (s, this tree) against session 24's kernels (a: this
# tree with back_to_head.patch), and four stages (s4: four_stages.patch), under the read flush.
# Prediction: sparse B8/32k timeline 71.4 -> ~64-67 us (the first selection over 4 sequences
# ~13 us instead of 18.6, the second hidden under the first decode), call ~0.0734 -> ~0.068 ms
# (~5.0-5.2x cuDNN); B1/128k and the dense rows unchanged (one stage). s4: first selection
# ~11 us, a further -1 to -2 us if four 64-CTA decodes still stream at the plain-read rate.
source scripts/ab_tree.sh
ab_run_start
R=$PWD
S=docs/results/2026-12-07-h100-session25
patched_copy build/src_a "$R/$S/back_to_head.patch"
patched_copy build/src_s4 "$R/$S/four_stages.patch"
full_build "$R" s &
one_config_build build/src_a build/site_a "64" > "$L/build_a.txt" 2>&1 &
one_config_build "$R" build/site_s "64" > "$L/build_s.txt" 2>&1 &
one_config_build build/src_s4 build/site_s4 "64" > "$L/build_s4.txt" 2>&1 &
wait
stamp builds
tail -n 2 "$L/full_build_s.txt" | tee -a "$L/times.txt"
timeout 150 build/gpu/tests/triageattention_tests --gtest_filter='Decode*' --gtest_brief=1 \
  > "$L/gtest_decode_s.txt" 2>&1
echo "gtest Decode* s rc=$? $(tail -n 3 "$L/gtest_decode_s.txt" | tr '\n' ' ')" | tee -a "$L/times.txt"
stamp decode_tests
pack
for v in a s s4; do
  PYTHONPATH=build/site_$v timeout 60 python3 scripts/profile/kernel_times.py sparse_decode \
    --l2-flush read --timeline 2>&1 | grep -v -i warn | cut -c1-130 | sed "s/^/$v /" \
    | tee -a "$L/times.txt"
done
stamp timelines
pack
bench_round() {  # round tag, then sites: bench_decode.py's standard cases
  local round=$1 site v
  shift
  for site in "$@"; do
    v=${site##*site_}
    PYTHONPATH=$site timeout 60 python3 benchmarks/bench_decode.py \
      --json "$L/decode_$v$round.json" > "$L/decode_$v$round.md" 2> "$L/decode_$v$round.err"
    grep -E "TriageAttention sparse_decode|cuDNN" "$L/decode_$v$round.md" | cut -c1-150 \
      | sed "s/^/$v$round /" | tee -a "$L/decode_ab.txt" | grep "topk" | tee -a "$L/times.txt"
  done
}
bench_round 1 build/site_a build/site_s build/site_s4
stamp round1
pack
bench_round 2 build/site_s4 build/site_s build/site_a
stamp round2
pack
for v in a s; do
  PYTHONPATH=build/site_$v timeout 100 python3 benchmarks/bench_decode.py \
    --cases 8:65536:sparse,8:131072:sparse,64:4096:sparse,4:32768:sparse \
    --json "$L/decode_more_$v.json" > "$L/decode_more_$v.md" 2>&1
  grep -E "topk|cuDNN" "$L/decode_more_$v.md" | cut -c1-150 | sed "s/^/$v /" | tee -a "$L/times.txt"
done
stamp more_cases
pack
candidate_suite "$R" s
stamp suite
pack
for tool in memcheck racecheck synccheck; do
  sanitize_line $tool s 'Decode.Staged*' 100 "$L/${tool}_s.txt" \
    | tee -a "$L/times.txt"
done
stamp sanitizers
pack
