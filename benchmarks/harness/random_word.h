// Deterministic pseudo-random 32-bit words for benchmark inputs: a device kernel fills a buffer
// with random_word(i, seed) and the host can recompute any word (to check that every byte was
// read) without copying the buffer back. CUDA sources only (__host__ __device__).
#pragma once

#include <cstdint>

namespace triageattention::bench {

__host__ __device__ __forceinline__ uint32_t random_word(int64_t i, uint32_t seed) {
  uint32_t h = uint32_t(i) * 2654435761u ^ seed;
  h ^= h >> 13;
  h *= 0x5bd1e995u;
  h ^= h >> 15;
  return h ^ uint32_t(i >> 32);
}

}  // namespace triageattention::bench
