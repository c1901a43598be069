# Helpers for A/B device runs, sourced from the repository root:
#   source scripts/ab_tree.sh
#   ab_run_start; ...; stamp builds; pack            # logs, timing and packing of a run
#   full_build build/src_x x                           # gpu_check.sh's build step in that tree
#   candidate_suite build/src_x x                      # then its whole ctest and pytest suites
#   patched_copy build/src_x a.patch [b.patch]  # this tree (no build/, no .git), patches applied
#   one_config_build build/src_x build/site_x "64;128"  # bf16, D 128, q tile 128, those block
#                                                       # sizes, installed into build/site_x
#   one_config_builds "64" x y                         # this tree into build/site_a and
#                                                       # build/src_x, _y into build/site_x, _y
#   gather_and_one_config_build build/site_x "64"      # the same for this tree, beside
#                                                       # bench_gather_ceiling
# Each one-config build then runs from PYTHONPATH=build/site_x beside the others;
#   decode_ab_round 1 logs build/site_a build/site_x   # one round of the decode benchmarks
#   decode_timelines logs build/site_a build/site_x    # sparse B8/32k kernels' start and end
#   one_config_tests_build build/src_x x               # its test binary alone, one config
#   decode_gtests build/src_x x                         # gtest Decode* of either build
#   decode_triage_checks build/src_x logs x            # decode and triage tests of a full build
#   split_merge_race_checks build/src_x logs x         # racecheck / synccheck on the split merges
#   gemm_ab_round 1 logs 64,128 build/site_a build/site_x  # one round of bench_gemm.py
#   R=$PWD; gemm_candidate_builds x.patch; gemm_ab_rounds  # a GEMM candidate's builds and rounds
#                                                      # (CAND=name: build/site_name, not _dyn)
#   gemm_checks build/src_x logs x                     # GEMM tests and sanitizers of a full build
#   gemm_kernel_times logs build/site_a build/site_x   # per-kernel times of both bsr_matmul forms
#   workload_ncu logs kernel workload [build/site_x] [name]  # Nsight Compute on one kernel launch
#   gemm_ncu_forms logs [build/site_x]                 # ... on one GEMM launch per form
#   gather_ncu logs build/bench_gather_ceiling         # ... on the plain read of the decode's pages
#   ncu_summary logs name...                           # duration and DRAM lines of those reports
# A prepared run's bookkeeping: ab_run_start sets L=$OUT/logs and records the device; stamp NAME
# appends the seconds since then to $L/times.txt; pack tars $L into $OUT/results.tgz after each
# step, so that a call cut short still returns what it measured.
ab_run_start() {
  L=$OUT/logs
  mkdir -p "$L"
  nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader > "$L/device.txt"
  ab_started=$(date +%s)
}
stamp() { echo "$1: $(( $(date +%s) - ab_started )) s" | tee -a "$L/times.txt"; }
pack() { tar czf "$OUT/results.tgz" -C "$OUT" logs; }
# gpu_check.sh's build step (the full build with tests) in the tree $1, logs in $L tagged $2.
full_build() {
  (cd "$1" && STEPS="build" LOG_DIR="$L/full_$2" bash scripts/gpu_check.sh \
    > "$L/full_build_$2.txt" 2>&1)
}
# The whole ctest and pytest suites of a tree built by full_build, from its folder $1, logs in
# $L/suite_$2, the summary rows also appended to $L/times.txt.
candidate_suite() {
  (cd "$1" && STEPS="cpp python" LOG_DIR="$L/suite_$2" BUILD_DIR=build/gpu \
    bash scripts/gpu_check.sh 2>&1 | tail -n 4 | tee -a "$L/times.txt")
}
patched_copy() {
  rm -rf "$1"
  mkdir -p "$1"
  tar cf - --exclude=./build --exclude=./.git . | tar xf - -C "$1"
  local dir=$1 p
  shift
  for p in "$@"; do
    (cd "$dir" && patch -p1 -s < "$p") || echo "PATCH FAILED: $p"
  done
}
# The one configuration both one-config builds compile (bf16, D 128, q tile 128), as CMake
# definitions.
ONE_CONFIG_DEFINES=(TRIAGEATTENTION_DTYPES=bf16 TRIAGEATTENTION_HEAD_DIMS=128
  TRIAGEATTENTION_Q_TILES=128)
one_config_build() {
  python3 -m pip install --no-build-isolation --no-deps -q --target "$2" -Cbuild-dir="$2.bld" \
    -Ccmake.define.CUTLASS_DIR="$PWD/third_party/cutlass" \
    "${ONE_CONFIG_DEFINES[@]/#/-Ccmake.define.}" "-Ccmake.define.TRIAGEATTENTION_BLOCK_SIZES=$3" "$1"
}
# One-config builds (block sizes $1), all at once: this tree into build/site_a and, for each
# further name v, build/src_v into build/site_v; logs $L/build_<name>.txt; then the "build" stamp.
one_config_builds() {
  local sizes=$1 v
  shift
  one_config_build . build/site_a "$sizes" > "$L/build_a.txt" 2>&1 &
  for v in "$@"; do
    one_config_build build/src_$v build/site_$v "$sizes" > "$L/build_$v.txt" 2>&1 &
  done
  wait
  stamp build
}
# The test binary of the tree $1 from a one-config CMake build (bf16, D 128, block 64: the decode
# kernels are built for every dtype and head dim in any configuration) in $1/build/gpu, where
# decode_gtests and sanitize_line look; log $L/test_build_$2.txt.
one_config_tests_build() {
  (cmake -S "$1" -B "$1/build/gpu" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    "${ONE_CONFIG_DEFINES[@]/#/-D}" -DTRIAGEATTENTION_BLOCK_SIZES=64 \
    -DTRIAGEATTENTION_BUILD_TESTS=ON -DCUTLASS_DIR="$PWD/third_party/cutlass" \
    && ninja -C "$1/build/gpu" triageattention_tests) > "$L/test_build_$2.txt" 2>&1
}
# bench_gather_ceiling of this tree compiled with nvcc into build/ (the pip build has no
# benchmarks).
gather_ceiling_build() {
  mkdir -p build
  nvcc -O3 -std=c++17 -gencode=arch=compute_90a,code=sm_90a -Ibenchmarks \
    benchmarks/bench_gather_ceiling.cu benchmarks/harness/timing.cu -o build/bench_gather_ceiling
}
# bench_gather_ceiling compiled with nvcc (the pip build has no benchmarks) beside a one-config
# build of this tree (block sizes $2) installed into $1; then the "build" stamp.
gather_and_one_config_build() {
  gather_ceiling_build &
  one_config_build . "$1" "$2" > "$L/build.txt" 2>&1
  wait
  stamp build
}
# compute-sanitizer's tool $1 on the test binary of the tree in the current folder, gtest filter
# $3, at most $4 seconds, log $5; prints "tool tag rc=N" (tag $2) and the error summary.
sanitize_line() {
  local tool=$1 tag=$2 filter=$3 secs=$4 log=$5
  timeout "$secs" compute-sanitizer --tool "$tool" --error-exitcode 1 \
    build/gpu/tests/triageattention_tests --gtest_filter="$filter" --gtest_brief=1 > "$log" 2>&1
  echo "$tool $tag rc=$? $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$log" | tail -n 1)"
}
# A GEMM A/B's trees, from the repository root $R: build/src_$CAND (this tree with the candidate
# patches $@; CAND defaults to dyn) built in full, and one-config builds (bs 16/32/64/128) of this
# tree (build/site_a) and of it (build/site_$CAND), all at once; then the stamp and the pack.
gemm_candidate_builds() {
  local c=${CAND:-dyn}
  patched_copy "$R/build/src_$c" "$@"
  full_build "$R/build/src_$c" "$c" &
  one_config_build "$R" "$R/build/site_a" "16;32;64;128" > "$L/build_a.log" 2>&1 &
  one_config_build "$R/build/src_$c" "$R/build/site_$c" "16;32;64;128" > "$L/build_$c.log" 2>&1 &
  wait
  stamp builds
  tail -n 1 "$L/full_build_$c.txt"
  pack
}
# The GEMM A/B rounds over those builds: 1 and 2 at bs 64 and 128 in opposite order, one at bs 16
# and 32; each stamped and packed.
gemm_ab_rounds() {
  gemm_ab_round 1 "$L" 64,128 "$R/build/site_a" "$R/build/site_dyn"
  stamp "round 1"
  pack
  gemm_ab_round 2 "$L" 64,128 "$R/build/site_dyn" "$R/build/site_a"
  stamp "round 2"
  pack
  gemm_ab_round _small "$L" 16,32 "$R/build/site_a" "$R/build/site_dyn"
  stamp "bs 16 and 32"
  pack
}
# kernel_times.py's timeline of the sparse B8/32k call (read flush) per site, into $L/times.txt
# tagged with the site's name: decode_timelines $L build/site_a build/site_x ...
decode_timelines() {
  local logs=$1 site
  shift
  for site in "$@"; do
    PYTHONPATH=$site timeout 60 python3 scripts/profile/kernel_times.py sparse_decode \
      --l2-flush read --timeline 2>&1 | grep -v -i warn | cut -c1-130 | sed "s/^/${site##*site_} /" \
      | tee -a "$logs/times.txt"
  done
}
# gtest Decode* of the tree $1 built by full_build or one_config_tests_build, log
# $L/gtest_decode_$2.txt, its summary in $L/times.txt.
decode_gtests() {
  (cd "$1" && timeout 150 build/gpu/tests/triageattention_tests --gtest_filter='Decode*' \
    --gtest_brief=1 > "$L/gtest_decode_$2.txt" 2>&1
  echo "gtest Decode* $2 rc=$? $(tail -n 3 "$L/gtest_decode_$2.txt" | tr '\n' ' ')") \
    | tee -a "$L/times.txt"
}
# One A/B round of the decode benchmarks over installed one-config builds, logs in $2:
#   decode_ab_round 1 $OUT/logs build/site_a build/site_r ...
# Per site (named by the letters after "site_"): bench_decode.py's sparse rows (decode_ab.txt),
# its dense rows (decode_dense_ab.txt) and select_times.py (select_ab.txt), each line tagged with
# the site's name and the round.
decode_ab_round() {
  local round=$1 logs=$2 site v
  shift 2
  for site in "$@"; do
    v=${site##*site_}
    PYTHONPATH=$site timeout 60 python3 benchmarks/bench_decode.py \
      --json "$logs/decode_$v$round.json" > "$logs/decode_$v$round.md" 2> "$logs/decode_$v$round.err"
    grep -E "TriageAttention sparse_decode \(topk" "$logs/decode_$v$round.md" | cut -c1-200 \
      | sed "s/^/$v$round /" | tee -a "$logs/decode_ab.txt"
    grep -E "TriageAttention sparse_decode \(dense" "$logs/decode_$v$round.md" | cut -c1-200 \
      | sed "s/^/$v$round /" >> "$logs/decode_dense_ab.txt"
    PYTHONPATH=$site timeout 30 python3 scripts/profile/select_times.py \
      > "$logs/select_$v$round.txt" 2>&1
    sed "s/^/$v$round /" "$logs/select_$v$round.txt" >> "$logs/select_ab.txt"
  done
}
# The tests of the selection's users (decode and triage share radix_topk.cuh) in a tree built in
# full by gpu_check.sh's build step (build/gpu, its package installed), from its folder $1, logs
# in $2 tagged $3: ctest Decode* and Triage*, test_decode.py and test_triage.py, memcheck on both
# C++ groups, each rc also appended to $2/times.txt.
decode_triage_checks() {
  local logs=$2 v=$3
  (
    cd "$1" || exit 1
    timeout 60 ctest --test-dir build/gpu -R "Decode|Triage" --output-on-failure -j 4 \
      > "$logs/ctest_$v.txt" 2>&1
    echo "ctest $v rc=$? $(grep 'tests passed' "$logs/ctest_$v.txt")"
    timeout 180 python3 -m pytest tests/python/test_decode.py tests/python/test_triage.py -q -x \
      > "$logs/pytest_$v.txt" 2>&1
    echo "pytest $v rc=$? $(tail -n 1 "$logs/pytest_$v.txt")"
    sanitize_line memcheck $v 'Decode*:Triage*' 150 "$logs/memcheck_$v.txt"
  ) | tee -a "$logs/times.txt"
}
# racecheck and synccheck on the decode tests whose splits merge (both merge forms) in a tree
# built as for decode_triage_checks, from its folder $1, logs in $2 tagged $3, each rc also
# appended to $2/times.txt.
split_merge_race_checks() {
  local logs=$2 v=$3 tool
  (
    cd "$1" || exit 1
    for tool in racecheck synccheck; do
      sanitize_line $tool $v 'Decode.ManySplits*:Decode.OtherPageSizes*' 90 "$logs/${tool}_$v.txt"
    done
  ) | tee -a "$logs/times.txt"
}
# One A/B round of bench_gemm.py (block sizes $3, comma-separated, 20 runs) over installed
# one-config builds, logs in $2: the top-k rows of each site, tagged with the site's name and the
# round, appended to gemm_ab.txt.
gemm_ab_round() {
  local round=$1 logs=$2 sizes=$3 site v
  shift 3
  for site in "$@"; do
    v=${site##*site_}
    PYTHONPATH=$site timeout 150 python3 benchmarks/bench_gemm.py --bs "$sizes" --runs 20 \
      --json "$logs/gemm_$v$round.json" > "$logs/gemm_$v$round.md" 2>&1
    echo "gemm $v$round rc=$?" >> "$logs/times.txt"
    grep -E "top-k" "$logs/gemm_$v$round.md" | grep -v "^ok" | cut -c1-170 \
      | sed "s/^/$v$round /" | tee -a "$logs/gemm_ab.txt"
  done
}
# kernel_times.py's two bsr_matmul forms (top-k, torch BSR) over installed one-config builds, logs
# in $1: each line tagged with the site's name and appended to kernel_times.txt.
#   gemm_kernel_times logs build/site_a build/site_x
gemm_kernel_times() {
  local logs=$1 site form
  shift
  for site in "$@"; do
    for form in bsr_matmul_topk bsr_matmul_torch_bsr; do
      PYTHONPATH=$site timeout 60 python3 scripts/profile/kernel_times.py $form 2>&1 \
        | grep -E " us " | sed "s/^/${site##*site_} /" | tee -a "$logs/kernel_times.txt"
    done
  done
}
# The GEMM's tests in a tree built in full by gpu_check.sh's build step, from its folder $1, logs
# in $2 tagged $3: ctest BsrGemm*, test_bsr_matmul.py, memcheck on the C++ GEMM tests (but the
# 100-run one), racecheck and synccheck on one configuration's tests and the malformed indices;
# each rc also appended to $2/times.txt.
gemm_checks() {
  local logs=$2 v=$3 tool
  (
    cd "$1" || exit 1
    timeout 90 ctest --test-dir build/gpu -R "BsrGemm" --output-on-failure -j 4 \
      > "$logs/ctest_gemm_$v.txt" 2>&1
    echo "ctest gemm $v rc=$? $(grep 'tests passed' "$logs/ctest_gemm_$v.txt")"
    timeout 120 python3 -m pytest tests/python/test_bsr_matmul.py -q -x \
      > "$logs/pytest_gemm_$v.txt" 2>&1
    echo "pytest gemm $v rc=$? $(tail -n 1 "$logs/pytest_gemm_$v.txt")"
    sanitize_line memcheck "gemm $v" 'BsrGemm*:-*BitwiseIdenticalOver100Runs*' 120 \
      "$logs/memcheck_gemm_$v.txt"
    for tool in racecheck synccheck; do
      sanitize_line $tool "gemm $v" \
        'BsrGemmAllConfigs.*/bf16_outsame_*:BsrGemm.MalformedIndicesAreSafe' 90 \
        "$logs/${tool}_gemm_$v.txt"
    done
  ) | tee -a "$logs/times.txt"
}
# Nsight Compute (scripts/profile/ncu.sh) on one launch of kernel $2 in kernel_times.py's workload
# $3, called without the torch profiler (which would share CUPTI with ncu); the installed package,
# or the one-config build $4; the text report in $1/ncu/NAME.txt, NAME $5 or the workload's.
#   workload_ncu logs decode_kernel sparse_decode build/site_a
workload_ncu() {
  local logs=$1 kernel=$2 workload=$3 site=${4:-} name=${5:-$3}
  PYTHONPATH=$site OUT=$logs/ncu timeout 90 bash scripts/profile/ncu.sh "$kernel" "$name" \
    -- python3 -c "import sys, torch; sys.path.insert(0, 'scripts/profile')
import kernel_times as k
call = k.workloads(torch.Generator(device='cuda').manual_seed(0))['$workload']()
for _ in range(4): call()
torch.cuda.synchronize()" > /dev/null 2>&1
  rm -f "$logs/ncu/$name.ncu-rep"
}
# Nsight Compute on the plain read of the decode's pages: bench_gather_ceiling ($2) at its
# 64-token random-page case (7 launches per case, 5 warm-up and 2 timed; that case is the
# fourth), the text report in $1/ncu/gather_64_random.txt.
gather_ncu() {
  OUT=$1/ncu SKIP=28 timeout 120 bash scripts/profile/ncu.sh gather_read gather_64_random -- \
    "$2" --runs 2 > /dev/null 2>&1
  rm -f "$1/ncu/gather_64_random.ncu-rep"
}
# One line per report NAME ($2 ...) in $1/ncu: its duration, DRAM throughput and DRAM bytes read,
# also appended to $1/times.txt.
ncu_summary() {
  local logs=$1 n
  shift
  for n in "$@"; do
    echo "$n: $(grep -E '^ +Duration|^ +DRAM Throughput|dram__bytes_read.sum ' "$logs/ncu/$n.txt" \
      | awk '{print $1, $2, $NF}' | sort -u | tr '\n' ';')" | tee -a "$logs/times.txt"
  done
}
# workload_ncu on the GEMM kernel of each bsr_matmul form, the installed package or the
# one-config build $2.
gemm_ncu_forms() {
  local form
  for form in bsr_matmul_topk bsr_matmul_torch_bsr; do
    workload_ncu "$1" bsr_gemm_kernel $form "${2:-}"
  done
}
