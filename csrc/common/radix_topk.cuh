// Deterministic top-k selection by radix select, shared by triage (key blocks) and decode (pages):
// warp_select_topk (one warp per row: triage's many rows per CTA) and cta_select_topk (every
// thread of a CTA on one row: the decode's one row per (sequence, kv head) on the critical path).
//
// Candidates are described by 32-bit keys: 0 marks a non-candidate, larger keys win, and equal
// keys go to the lower index. score_key() maps a float score to a key in [1, kForcedKey), so a
// forced candidate (sink, local, last page) takes kForcedKey and beats every score. The k-th
// largest key is found by radix select (four 8-bit passes over a 256-bin histogram), then one
// pass in index order writes the winners ascending. No sort, no global memory of its own. Both
// versions select exactly the same indices.
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

// The digit holding the key of rank `remaining` (1 = the largest) in a 256-bin histogram of the
// keys still in play, and how many of those keys lie in larger digits. Called by a whole warp.
struct DigitRank {
  int digit = 0, above = 0;
};
__device__ inline DigitRank find_digit(const uint32_t* histogram, int remaining) {
  const int lane = threadIdx.x & 31;
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
  DigitRank r{0, before};
  if (owner) {
    int running = before;
    bool found = false;
#pragma unroll
    for (int j = 0; j < 8; ++j) {
      if (!found && running + counts[j] >= remaining) {
        r.digit = 255 - 8 * lane - j;
        r.above = running;
        found = true;
      }
      running += counts[j];
    }
  }
  const int owner_lane = __ffs(__ballot_sync(0xffffffffu, owner)) - 1;
  r.digit = __shfl_sync(0xffffffffu, r.digit, owner_lane);
  r.above = __shfl_sync(0xffffffffu, r.above, owner_lane);
  return r;
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
      const DigitRank d = find_digit(histogram, remaining);
      const int digit = d.digit;
      remaining -= d.above;
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

// Shared memory of cta_select_topk.
struct CtaSelectScratch {
  uint32_t histogram[256];
  int warp_counts[2][32];  // per warp: keys equal to the threshold, keys above it
  int broadcast[2];
};

// warp_select_topk's selection made by all threads of the CTA together (blockDim.x a multiple of
// 32), for one long row: each radix pass costs n / blockDim.x keys per thread instead of n / 32.
// Every thread must call it with the same arguments; returns the number written.
template <class KeyOf, class Write>
__device__ int cta_select_topk(const KeyOf& key_of, int n, int k, CtaSelectScratch& scratch,
                               const Write& write) {
  const int tid = int(threadIdx.x), lane = tid & 31, warp = tid >> 5;
  const int threads = int(blockDim.x), warps = threads >> 5;
  // Sum over the CTA of one value per thread; every thread gets it.
  auto cta_sum = [&](int x) {
    x = warp_sum(x);
    if (lane == 0) scratch.warp_counts[0][warp] = x;
    __syncthreads();
    int total = 0;
    for (int w = 0; w < warps; ++w) total += scratch.warp_counts[0][w];
    __syncthreads();
    return total;
  };
  int candidates = 0;
  for (int i = tid; i < n; i += threads) candidates += key_of(i) != kNotCandidate;
  candidates = cta_sum(candidates);
  const int count = k < candidates ? k : candidates;
  if (count <= 0) return 0;

  uint32_t threshold = 1u;
  int take_equal = count;
  if (count < candidates) {
    uint32_t prefix = 0, prefix_mask = 0;
    int remaining = count;
    for (int shift = 24; shift >= 0; shift -= 8) {
      for (int b = tid; b < 256; b += threads) scratch.histogram[b] = 0;
      __syncthreads();
      // Whole warps iterate together (the match needs every lane); lanes with the same digit
      // add once, so keys that share their leading bits do not serialize on one counter.
      for (int base = 0; base < n; base += threads) {
        const int i = base + tid;
        const uint32_t key = i < n ? key_of(i) : kNotCandidate;
        const bool in = key != kNotCandidate && (key & prefix_mask) == prefix;
        const uint32_t digit = (key >> shift) & 255u;
        const uint32_t peers = __match_any_sync(0xffffffffu, in ? digit : 256u);
        if (in && lane == __ffs(peers) - 1) atomicAdd(&scratch.histogram[digit], __popc(peers));
      }
      __syncthreads();
      if (warp == 0) {
        const DigitRank d = find_digit(scratch.histogram, remaining);
        if (lane == 0) {
          scratch.broadcast[0] = d.digit;
          scratch.broadcast[1] = d.above;
        }
      }
      __syncthreads();
      remaining -= scratch.broadcast[1];
      prefix |= uint32_t(scratch.broadcast[0]) << shift;
      prefix_mask |= 255u << shift;
      // The next pass writes the histogram and broadcast only after its first barrier, which
      // every thread reaches after reading them here.
    }
    threshold = prefix;
    take_equal = remaining;
  }

  // Compaction in index order, blockDim.x indices per round: an index's position is the number
  // of winners before it, i.e. the keys above T before it plus min(keys equal to T before it,
  // take_equal).
  const uint32_t lanes_below = (1u << lane) - 1u;
  int equal_seen = 0, above_seen = 0;  // over the previous rounds, the same in every thread
  for (int base = 0; base < n; base += threads) {
    const int i = base + tid;
    const uint32_t key = i < n ? key_of(i) : kNotCandidate;
    const bool equal = key == threshold && key != kNotCandidate;
    const bool above = key > threshold;
    const uint32_t equal_lanes = __ballot_sync(0xffffffffu, equal);
    const uint32_t above_lanes = __ballot_sync(0xffffffffu, above);
    if (lane == 0) {
      scratch.warp_counts[0][warp] = __popc(equal_lanes);
      scratch.warp_counts[1][warp] = __popc(above_lanes);
    }
    __syncthreads();
    int equal_before = equal_seen + __popc(equal_lanes & lanes_below);
    int above_before = above_seen + __popc(above_lanes & lanes_below);
    for (int w = 0; w < warps; ++w) {
      if (w < warp) {
        equal_before += scratch.warp_counts[0][w];
        above_before += scratch.warp_counts[1][w];
      }
      equal_seen += scratch.warp_counts[0][w];
      above_seen += scratch.warp_counts[1][w];
    }
    __syncthreads();  // the counts are read before the next round rewrites them
    if (above || (equal && equal_before < take_equal))
      write(above_before + (equal_before < take_equal ? equal_before : take_equal), i);
  }
  return count;
}

}  // namespace triageattention::detail
