#!/usr/bin/env bash
# Prepared in session 30, not run (~420 s, carry ["third_party"]): er (early_prefetch.patch) and
# era (early_all_tiles.patch on er) against main, two rounds in opposite order, the sparse B8/32k
# timelines, then era's decode gtests on its one-config test build. er issues the prefetch of step
# 34 as soon as a CTA has scored its last tile, before the first cluster barrier's wait, in every
# CTA including rank 0 (session 27's stamps: tiles scored at 9.1 us median, the barrier passed at
# 10.7), so ~1.7 us more of the idle DRAM window carries prefetched pages, and rank 0's tile (1/8
# of the pages) is prefetched too. Prediction: sparse B8/32k -0.5 to -1.5 us; B1/128k and dense
# rows unchanged. Built locally: the __half D 64 smem-key instance spills 12 bytes (main: 4); no
# other instance spills; .text of the bf16 D 128 selection 63.6 -> 62.8 KB. era prefetches every
# tile a CTA scores, not only its last (rows of more than one tile per CTA: B1/128k's 2,048 pages
# are four per CTA, and rank 0's select of them leaves DRAM idle for ~11 us); the same at B8/32k.
# Prediction: B1/128k -2 to -5 us, unless the prefetches slow the later tiles' summary loads (the
# selection's chain).
source scripts/ab_tree.sh
ab_run_start
R=$PWD
N=docs/results/2026-12-08-h100-session30
patched_copy build/src_er "$R/$N/early_prefetch.patch"
patched_copy build/src_era "$R/$N/early_prefetch.patch" "$R/$N/early_all_tiles.patch"
one_config_builds "64" er era
pack
decode_ab_round 1 "$L" build/site_a build/site_er build/site_era
decode_ab_round 2 "$L" build/site_era build/site_er build/site_a
cut -c1-150 "$L/decode_ab.txt"
cut -c1-140 "$L/decode_dense_ab.txt"
grep -E "B  8 ctx  32768 filled  32768|B  1 ctx 131072" "$L/select_ab.txt"
stamp rounds
pack
decode_timelines "$L" build/site_a build/site_er build/site_era
one_config_tests_build build/src_era era
decode_gtests build/src_era era
stamp gtests
pack
