// Deterministic top-k selection by one warp, shared by triage (key blocks) and decode (pages).
//
// Candidates are described by 32-bit keys: 0 marks a non-candidate, larger keys win, and equal
// keys go to the lower index. score_key() maps a float score to a key in [1, kForcedKey), so a
// forced candidate (sink, local, last page) takes kForcedKey and beats every score. The k-th
// largest key is found by radix select (four 8-bit passes over a 256-bin histogram), then one
// pass in index order writes the winners ascending. No sort, no global memory of its own.
#pragma once

#include <cstdint>

namespace triageattention::detail {

constexpr uint32_t kNotCandidate = 0;
constexpr uint32_t kForcedKey = 0xFFFFFFFFu;

// Monotone map of a float score to a key in [1, 0xFF800000]: NaN lowest (1), then -inf .. +inf;
// -0 and +0 map alike, so equal scores tie.
__device__ __forceinline__ uint32_t score_key(float s) {
  if (s != s) return 1u;
  if (s == 0.f) s = 0.f;
  const uint32_t u = __float_as_uint(s);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

__device__ __forceinline__ int warp_sum(int x) {
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) x += __shfl_xor_sync(0xffffffffu, x, offset);
  return x;
}

// Selects the min(k, #candidates) indices in [0, n) with the largest key_of(i) (ties to the lower
// index) and calls write(position, index) for each, positions 0, 1, ... in ascending index order.
// Every lane of the warp must call it with the same arguments; `histogram` is 256 words of shared
// memory owned by this warp. key_of(i) is evaluated up to six times per index, so keep it cheap.
// Returns the number written.
template <class KeyOf, class Write>
__device__ int warp_select_topk(const KeyOf& key_of, int n, int k, uint32_t* histogram,
                                const Write& write) {
  const int lane = threadIdx.x & 31;
  int candidates = 0;
  for (int i = lane; i < n; i += 32) candidates += key_of(i) != kNotCandidate;
  candidates = warp_sum(candidates);
  const int count = k < candidates ? k : candidates;
  if (count <= 0) return 0;

  // Threshold key T and how many keys equal to T to take (the lowest-indexed ones).
  uint32_t threshold = 1u;
  int take_equal = count;  // with count == candidates every candidate (key >= 1) is taken
  if (count < candidates) {
    uint32_t prefix = 0, prefix_mask = 0;
    int remaining = count;  // rank still to find among keys matching the prefix
    for (int shift = 24; shift >= 0; shift -= 8) {
      for (int b = lane; b < 256; b += 32) histogram[b] = 0;
      __syncwarp();
      for (int i = lane; i < n; i += 32) {
        const uint32_t key = key_of(i);
        if (key != kNotCandidate && (key & prefix_mask) == prefix)
          atomicAdd(&histogram[(key >> shift) & 255u], 1u);
      }
      __syncwarp();
      // Lane l owns digits 255 - 8l down to 248 - 8l, so lanes scan the digits from the top.
      int counts[8], lane_total = 0;
#pragma unroll
      for (int j = 0; j < 8; ++j) {
        counts[j] = int(histogram[255 - 8 * lane - j]);
        lane_total += counts[j];
      }
      int inclusive = lane_total;
#pragma unroll
      for (int offset = 1; offset < 32; offset <<= 1) {
        const int up = __shfl_up_sync(0xffffffffu, inclusive, offset);
        if (lane >= offset) inclusive += up;
      }
      const int before = inclusive - lane_total;
      const bool owner = before < remaining && remaining <= inclusive;
      int digit = 0, above = before;
      if (owner) {
        int running = before;
        bool found = false;
#pragma unroll
        for (int j = 0; j < 8; ++j) {
          if (!found && running + counts[j] >= remaining) {
            digit = 255 - 8 * lane - j;
            above = running;
            found = true;
          }
          running += counts[j];
        }
      }
      const int owner_lane = __ffs(__ballot_sync(0xffffffffu, owner)) - 1;
      digit = __shfl_sync(0xffffffffu, digit, owner_lane);
      above = __shfl_sync(0xffffffffu, above, owner_lane);
      remaining -= above;
      prefix |= uint32_t(digit) << shift;
      prefix_mask |= 255u << shift;
      __syncwarp();
    }
    threshold = prefix;
    take_equal = remaining;
  }

  // Compaction in index order: keys above T, then the first take_equal keys equal to T.
  const uint32_t lanes_below = (1u << lane) - 1u;
  int written = 0, equal_seen = 0;
  for (int base = 0; base < n; base += 32) {
    const int i = base + lane;
    const uint32_t key = i < n ? key_of(i) : kNotCandidate;
    const bool equal = key == threshold && key != kNotCandidate;
    const uint32_t equal_lanes = __ballot_sync(0xffffffffu, equal);
    const int equal_rank = equal_seen + __popc(equal_lanes & lanes_below);
    const bool take = key > threshold || (equal && equal_rank < take_equal);
    const uint32_t take_lanes = __ballot_sync(0xffffffffu, take);
    if (take) write(written + __popc(take_lanes & lanes_below), i);
    written += __popc(take_lanes);
    equal_seen += __popc(equal_lanes);
  }
  return written;
}

}  // namespace triageattention::detail
