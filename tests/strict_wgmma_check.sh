#!/usr/bin/env bash
# The TRIAGEATTENTION_STRICT_WGMMA launcher ($1): fails a compile whose ptxas reports serialized
# wgmma (C7515), passes every other command's status and stderr through.
launcher=$1
fail() { echo "FAIL: $*" >&2; exit 1; }
advisory="ptxas info    : (C7515) Potential Performance Loss: wgmma.mma_async instructions are serialized"

err=$(bash "$launcher" bash -c "echo '$advisory' >&2" 2>&1) && fail "C7515 was not an error"
[[ $err == *C7515* && $err == *"error: ptxas serialized wgmma"* ]] || fail "message: $err"

out=$(bash "$launcher" bash -c "echo compiled; echo 'ptxas info : Used 168 registers' >&2" 2>&1) \
  || fail "a clean compile failed"
[[ $out == *compiled* && $out == *"Used 168 registers"* ]] || fail "output lost: $out"

bash "$launcher" bash -c "echo 'error: other' >&2; exit 3" 2> /dev/null
rc=$?
[ $rc = 3 ] || fail "a failing compile returned $rc, expected its own 3"
echo "strict wgmma launcher: ok"
