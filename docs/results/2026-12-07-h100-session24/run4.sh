#!/usr/bin/env bash
# Session 24 run 4, from the repository root, carry ["third_party"] (~150 s, what the budget left
# allows): (1) does the read flush evict? flush_probe.py at 8 MiB, which stays in the L2 when
# nothing flushes: prediction no flush >= 5 TB/s, read and write flush at a DRAM-latency-bound
# rate well under it. (2) Nsight Compute (clocks left alone, its own cache flush) on the sparse
# decode kernel beside the plain read of the same 134 MB (64-token random pages): prediction
# decode ~52 us against ~46 us, both at 75-90% of DRAM peak.
source scripts/ab_tree.sh
ab_run_start
gather_and_one_config_build build/site_run4 "64"
timeout 40 python3 docs/results/2026-12-07-h100-session24/flush_probe.py 8 2>&1 \
  | tee "$L/flush_probe_8.md" | tee -a "$L/times.txt"
stamp probe
pack
mkdir -p "$L/ncu"
PYTHONPATH=build/site_run4 OUT=$L/ncu timeout 90 bash scripts/profile/ncu.sh decode_kernel \
  decode_sparse -- python3 -c "import sys, torch; sys.path.insert(0, 'scripts/profile')
import kernel_times as k
call = k.workloads(torch.Generator(device='cuda').manual_seed(0))['sparse_decode']()
for _ in range(4): call()
torch.cuda.synchronize()" > /dev/null 2>&1
# bench_gather_ceiling runs 7 launches per case (5 warm-up, 2 timed); case 4 is 64-token random.
OUT=$L/ncu SKIP=28 timeout 60 bash scripts/profile/ncu.sh gather_read gather_64_random -- \
  build/bench_gather_ceiling --runs 2 > /dev/null 2>&1
for n in decode_sparse gather_64_random; do
  echo "$n: $(grep -E '^ +Duration|^ +DRAM Throughput|dram__bytes_read.sum |Achieved Occupancy' \
    "$L/ncu/$n.txt" | awk '{print $1, $2, $NF}' | sort -u | tr '\n' ';')" | tee -a "$L/times.txt"
  rm -f "$L/ncu/$n.ncu-rep"
done
stamp ncu
pack
