// cp.async (global -> shared, sm_80+) wrappers shared by the decode kernels: copies that occupy no
// registers while in flight, zero-filled when the source is absent, optionally under an L2 policy;
// and the bulk L2 prefetch (sm_90). The copies carry no memory clobber (the compiler may move
// other accesses around them); the waits do, so shared memory is read only after them.
#pragma once

#include <cstdint>

namespace triageattention::detail {

__device__ __forceinline__ uint32_t smem_u32(const void* p) {
  return uint32_t(__cvta_generic_to_shared(p));
}

// 16 bytes, bypassing L1; src_bytes 0 writes zeros (src must still be a valid address).
__device__ __forceinline__ void cp_async_16(uint32_t dst, const void* src, int src_bytes) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src),
               "r"(src_bytes));
}
// An L2 policy that marks the lines it touches first to evict: for bytes read once per call (the
// decode's K/V stream), so that lines still to be read stay. Not on the selection's summaries:
// there it slowed the 2,048-page rows' selection by 1.7 us (decode step 35).
__device__ __forceinline__ uint64_t l2_evict_first_policy() {
  uint64_t policy;
  asm volatile("createpolicy.fractional.L2::evict_first.b64 %0, 1.0;\n" : "=l"(policy));
  return policy;
}
// cp_async_16 under an L2 policy.
__device__ __forceinline__ void cp_async_16(uint32_t dst, const void* src, int src_bytes,
                                            uint64_t policy) {
  asm volatile("cp.async.cg.shared.global.L2::cache_hint [%0], [%1], 16, %2, %3;\n" ::"r"(dst),
               "l"(src), "r"(src_bytes), "l"(policy));
}
// 4 bytes (cp.async's smallest copy, for 4-byte aligned rows).
__device__ __forceinline__ void cp_async_4(uint32_t dst, const void* src) {
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4;\n" ::"r"(dst), "l"(src));
}
// Starts pulling `bytes` (a multiple of 16) from src (16-byte aligned) into L2 through the
// tensor memory accelerator (sm_90): one instruction, no registers held and nothing to wait for.
__device__ __forceinline__ void prefetch_l2(const void* src, uint32_t bytes) {
  asm volatile("cp.async.bulk.prefetch.L2.global [%0], %1;\n" ::"l"(src), "r"(bytes) : "memory");
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
}
__device__ __forceinline__ void cp_async_wait_all() {
  asm volatile("cp.async.wait_all;\n" ::: "memory");
}

}  // namespace triageattention::detail
