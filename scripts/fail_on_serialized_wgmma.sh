#!/usr/bin/env bash
# CUDA compiler launcher for TRIAGEATTENTION_STRICT_WGMMA=ON: runs one nvcc command and fails it
# when ptxas reports that it serialized the kernel's wgmma (advisory C7515, printed as "info", so
# -Werror does not catch it). A register written between a wgmma and its wait makes ptxas wait
# after every wgmma of the kernel; the code still compiles and passes every test, only slower
# (session 22: bs 32 GEMM -3%).
log=$(mktemp)
trap 'rm -f "$log"' EXIT
"$@" 2> "$log"
rc=$?
cat "$log" >&2
if grep -q "C7515" "$log"; then
  echo "error: ptxas serialized wgmma (C7515) in the command above; keep non-wgmma writes to" \
    "the accumulators out of the span between a wgmma and its wait" >&2
  exit 1
fi
exit $rc
