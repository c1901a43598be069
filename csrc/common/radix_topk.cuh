// Deterministic top-k selection by radix select, shared by triage (key blocks) and decode (pages):
// warp_select_topk (one warp per row: triage's many rows per CTA) and cta_select_topk (every
// thread of a CTA on one row: the decode's one row per (sequence, kv head) on the critical path).
//
// Candidates are described by 32-bit keys: 0 marks a non-candidate, larger keys win, and equal
// keys go to the lower index. score_key() maps a float score to a key in [1, kForcedKey), so a
// forced candidate (sink, local, last page) takes kForcedKey and beats every score. The k-th
// largest key is found by radix select (up to four 8-bit passes over a 256-bin histogram), then one
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
  int digit = 0, above = 0, total = 0;  // total: keys in the histogram
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
  r.total = __shfl_sync(0xffffffffu, inclusive, 31);
  // No owner when remaining > total: lane 0's values are returned (the caller checks total).
  const int owner_lane = max(0, __ffs(__ballot_sync(0xffffffffu, owner)) - 1);
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
  int warp_scan[32];   // per warp: its threads' (above << 16 | equal) counts, summed
  int broadcast[4];    // the pass's digit, keys above it, keys in it, candidates
};

// warp_select_topk's selection made by all threads of the CTA together (blockDim.x a multiple of
// 32), for one long row. Each thread holds up to kKeysPerThread consecutive keys in registers
// (a row longer than kKeysPerThread * blockDim.x is taken in tiles, re-reading key_of per tile),
// so each pass issues its keys' shared atomics back to back instead of one dependent
// shared-memory round trip per key. The first pass also counts the candidates, and the passes
// stop early once the bucket holding the k-th key is taken whole. Every thread must call it with
// the same arguments; returns the number written.
template <int kKeysPerThread, class KeyOf, class Write>
__device__ int cta_select_topk(const KeyOf& key_of, int n, int k, CtaSelectScratch& scratch,
                               const Write& write) {
  const int tid = int(threadIdx.x), lane = tid & 31, warp = tid >> 5;
  const int threads = int(blockDim.x), warps = threads >> 5;
  if (n <= 0 || k <= 0) return 0;
  // Thread t holds indices [t * per, (t + 1) * per) of each tile of per * threads indices.
  const int per = min(kKeysPerThread, (n + threads - 1) / threads);
  const int tile_size = per * threads, tiles = (n + tile_size - 1) / tile_size;
  uint32_t key[kKeysPerThread];
  auto load_tile = [&](int tile) {
#pragma unroll
    for (int j = 0; j < kKeysPerThread; ++j) {
      const int i = tile * tile_size + tid * per + j;
      key[j] = j < per && i < n ? key_of(i) : kNotCandidate;
    }
  };
  load_tile(0);
  auto for_each_tile = [&](const auto& body) {  // with one tile the keys stay in registers
    for (int tile = 0; tile < tiles; ++tile) {
      if (tiles > 1) load_tile(tile);
      body(tile);
    }
  };

  // Radix passes: keys whose bits under `mask` equal `prefix` are still in play, and the k-th
  // largest key is the `remaining`-th largest of them.
  uint32_t prefix = 0, mask = 0;
  int remaining = k;
  // k >= n takes every candidate: no pass, and prefix and mask 0 match them all.
  for (int shift = k < n ? 24 : -8; shift >= 0; shift -= 8) {
    for (int b = tid; b < 256; b += threads) scratch.histogram[b] = 0;
    __syncthreads();
    for_each_tile([&](int) {
#pragma unroll
      for (int j = 0; j < kKeysPerThread; ++j) {
        if (j >= per) break;  // uniform: every lane holds `per` slots
        // One plain atomic per key: measured cheaper than aggregating equal digits first
        // (__match_any_sync), even when a warp's keys share one digit (OPTIMIZATION_LOG 16).
        if (key[j] != kNotCandidate && (key[j] & mask) == prefix)
          atomicAdd(&scratch.histogram[(key[j] >> shift) & 255u], 1u);
      }
    });
    __syncthreads();
    if (warp == 0) {
      const DigitRank d = find_digit(scratch.histogram, remaining);
      if (lane == 0) {
        scratch.broadcast[0] = d.digit;
        scratch.broadcast[1] = d.above;
        scratch.broadcast[2] = int(scratch.histogram[d.digit]);
        scratch.broadcast[3] = d.total;
      }
    }
    __syncthreads();
    // The next pass writes the histogram and broadcast only after its first barrier, which
    // every thread reaches after reading them here.
    if (shift == 24) {
      const int candidates = scratch.broadcast[3];
      if (candidates == 0) return 0;
      if (k >= candidates) break;  // every candidate: prefix and mask 0 match them all
    }
    const int digit = scratch.broadcast[0];
    remaining -= scratch.broadcast[1];
    prefix |= uint32_t(digit) << shift;
    mask |= 255u << shift;
    if (scratch.broadcast[2] == remaining) break;  // the bucket of the k-th key is taken whole
  }
  // Winners: keys above the threshold bucket, then the first `remaining` keys in it.
  const int take_equal = remaining;

  // Compaction in index order: an index's position is the number of winners before it, i.e.
  // the keys above before it plus min(keys in the threshold bucket before it, take_equal).
  int above_seen = 0, equal_seen = 0;  // over the previous tiles, the same in every thread
  for_each_tile([&](int tile) {
    int above = 0, equal = 0;
#pragma unroll
    for (int j = 0; j < kKeysPerThread; ++j) {
      const bool candidate = key[j] != kNotCandidate;
      above += candidate && (key[j] & mask) > prefix;
      equal += candidate && (key[j] & mask) == prefix;
    }
    // CTA-wide exclusive scan of (above << 16 | equal): a tile holds at most 65535 keys.
    int inclusive = above << 16 | equal;
#pragma unroll
    for (int offset = 1; offset < 32; offset <<= 1) {
      const int up = __shfl_up_sync(0xffffffffu, inclusive, offset);
      if (lane >= offset) inclusive += up;
    }
    if (lane == 31) scratch.warp_scan[warp] = inclusive;
    __syncthreads();
    int before = inclusive - (above << 16 | equal), tile_total = 0;
    for (int w = 0; w < warps; ++w) {
      if (w < warp) before += scratch.warp_scan[w];
      tile_total += scratch.warp_scan[w];
    }
    __syncthreads();  // the sums are read before the next tile rewrites them
    int above_before = above_seen + (before >> 16), equal_before = equal_seen + (before & 0xFFFF);
#pragma unroll
    for (int j = 0; j < kKeysPerThread; ++j) {
      if (key[j] == kNotCandidate) continue;
      const uint32_t masked = key[j] & mask;
      if (masked > prefix) {
        write(above_before + min(equal_before, take_equal), tile * tile_size + tid * per + j);
        ++above_before;
      } else if (masked == prefix) {
        if (equal_before < take_equal)
          write(above_before + equal_before, tile * tile_size + tid * per + j);
        ++equal_before;
      }
    }
    above_seen += tile_total >> 16;
    equal_seen += tile_total & 0xFFFF;
  });
  return above_seen + min(equal_seen, take_equal);
}

}  // namespace triageattention::detail
