#!/usr/bin/env bash
# Session 24 run 3, from the repository root, carry ["third_party"] (~400 s): the final tree
# (session 23's kernels plus the splits' acquire-release arrival of decode step 20, the warp
# select reverted; the benchmarks' read flush). The whole suite on the full build, then under
# the read flush: bench_decode.py (standard cases, then B8 at 64k and 128k), the plain read
# ceiling, the call's timeline, bench_gemm.py, and Nsight Compute on the sparse decode kernel
# beside the plain read of the same bytes. Prediction: sparse B8/32k 0.073-0.075 ms (4.6-4.8x
# cuDNN), dense rows >= 98% of cuDNN, the GEMM's rows within 1% of session 23's.
source scripts/ab_tree.sh
ab_run_start
STEPS="build sass cpp python sanitize" LOG_DIR="$L/check" bash scripts/gpu_check.sh 2>&1 \
  | tail -n 9 | tee -a "$L/times.txt"
stamp suite
pack
timeout 150 python3 benchmarks/bench_decode.py --json "$L/decode.json" > "$L/decode.md" 2>&1
grep -E "^\| B|WRONG|raised|MISMATCH" "$L/decode.md" | cut -c1-150 | tee -a "$L/times.txt"
timeout 150 python3 benchmarks/bench_decode.py --cases 8:65536:sparse,8:131072:sparse \
  --json "$L/decode_long.json" > "$L/decode_long.md" 2>&1
grep -E "^\| B|WRONG|raised|MISMATCH" "$L/decode_long.md" | cut -c1-150 | tee -a "$L/times.txt"
stamp decode
pack
timeout 60 build/gpu/benchmarks/bench_gather_ceiling > "$L/gather.md" 2>&1
grep "|" "$L/gather.md" | tee -a "$L/times.txt"
timeout 60 python3 scripts/profile/kernel_times.py sparse_decode --l2-flush read --timeline 2>&1 \
  | grep -v -i warn | cut -c1-130 | tee -a "$L/times.txt"
stamp reads
pack
timeout 150 python3 benchmarks/bench_gemm.py --bs 16,32,64,128 --runs 20 --json "$L/gemm.json" \
  > "$L/gemm.md" 2>&1
grep -E "^\| " "$L/gemm.md" | grep -E "top-k|torch BSR" | cut -c1-150 | tee -a "$L/times.txt"
stamp gemm
pack
mkdir -p "$L/ncu"
OUT=$L/ncu timeout 120 bash scripts/profile/ncu.sh decode_kernel decode_sparse -- python3 -c \
  "import sys, torch; sys.path.insert(0, 'scripts/profile')
import kernel_times as k
call = k.workloads(torch.Generator(device='cuda').manual_seed(0))['sparse_decode']()
for _ in range(4): call()
torch.cuda.synchronize()" > /dev/null 2>&1
OUT=$L/ncu SKIP=28 timeout 120 bash scripts/profile/ncu.sh gather_read gather_64_random -- \
  build/gpu/benchmarks/bench_gather_ceiling --runs 2 > /dev/null 2>&1
for n in decode_sparse gather_64_random; do
  echo "$n: $(grep -E '^ +Duration|^ +DRAM Throughput|dram__bytes_read.sum |Achieved Occupancy' \
    "$L/ncu/$n.txt" | awk '{print $1, $2, $NF}' | sort -u | tr '\n' ';')" | tee -a "$L/times.txt"
  rm -f "$L/ncu/$n.ncu-rep"
done
stamp ncu
pack
