// Decode page selection in one kernel: Quest upper-bound scores of every page holding valid
// tokens, then the top-k of each (sequence, kv head) with cta_select_topk.
//
// A cluster of up to kMaxCluster CTAs serves one (sequence, kv head): CTA r scores the 64-page
// tiles r, r + C, ... (summaries and q staged in shared memory; a tile's first 32 pages are
// scored while the other 32 land), and writes each page's selection key and physical page into
// rank 0's shared memory (DSMEM), so that after one cluster barrier rank 0 runs the radix select
// on keys in shared memory, with no second launch and no key reloads from global memory. Every
// score sums over d in order (exact products of 16-bit values, one rounding per add), which the
// CPU reference repeats bit for bit: the bound's term max(q lo, q hi) is q hi for q > 0 and q lo
// otherwise, picked from the 16-bit pair by one byte permute whose selector is staged with q,
// then one fma.
//
// The chain of dependent steps is the kernel's time (it moves ~17 MB at B8/32k): the copies of
// the first q rows and the page-table loads are issued together, the summaries' copies behind
// them; the page scores reach global memory after the cluster barrier; and the resources fit
// five CTAs per SM (128 threads, 44 KB at four query rows), so that one wave holds every cluster
// of a B8 batch.
#include <cooperative_groups.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <type_traits>

#include "common/cp_async.cuh"
#include "common/cuda_check.h"
#include "common/device_info.h"
#include "common/radix_topk.cuh"
#include "decode/decode_launch.h"

namespace triageattention::decode {
namespace {

namespace cg = cooperative_groups;
using detail::cp_async_16;
using detail::cp_async_4;
using detail::cp_async_commit;
using detail::cp_async_wait;
using detail::cp_async_wait_all;
using detail::smem_u32;

constexpr int kThreads = 128;
constexpr int kTilePages = 64;
// A tile's summaries land in two halves (two commit groups); the first half is scored while the
// second is in flight. In each half, the kRowLanes threads of a page split its query rows.
constexpr int kHalfPages = kTilePages / 2;
constexpr int kRowLanes = kThreads / kHalfPages;
constexpr int kRowsPerPass = 32;                  // query rows staged in shared memory at a time
constexpr int kPad = 8;  // 16-bit elements: a summary row is an odd number of 16-byte units, so
                         // 16-byte reads of consecutive pages hit distinct banks
constexpr int kMaxCluster = 8;
constexpr int kMaxSmemKeys = 16384;  // more pages: rank 0 rebuilds keys from global scores
constexpr int kSelectKeysPerThread = 8;  // rows of up to 1024 pages are selected in registers

struct SelectArgs {
  PagedKVCacheView cache;
  const void* q = nullptr;
  AttentionStrides q_strides;
  int group = 0, seqlen_q = 0, topk = 0, sink_pages = 0;
  int32_t* indices = nullptr;
  int32_t* physical = nullptr;  // optional: the physical page of each selected entry
  int32_t* counts = nullptr;
  float* scores = nullptr;
  int32_t* arrivals = nullptr;
  int arrival_blocks = 0;
  int prefetch_stride = 0;  // decode_launch.h's prefetch_stride(); 0: no prefetch
};

__device__ __forceinline__ int num_valid_pages(const PagedKVCacheView& c, int b) {
  const int cap = c.max_pages * c.page_size;
  const int32_t raw = c.seqlens[b];
  const int len = raw < 0 ? 0 : (raw > cap ? cap : raw);
  return (len + c.page_size - 1) / c.page_size;
}

__device__ __forceinline__ bool mapped(const PagedKVCacheView& c, int32_t phys) {
  return phys >= 0 && phys < c.num_pages;
}

// Two 16-bit values (one 32-bit word, element 0 in the low half) widened to float.
template <typename T>
__device__ __forceinline__ float2 widen2(uint32_t w) {
  if constexpr (std::is_same_v<T, __half>) {
    __half2 h;
    memcpy(&h, &w, 4);
    return __half22float2(h);
  } else {
    return make_float2(__uint_as_float(w << 16), __uint_as_float(w & 0xFFFF0000u));
  }
}

// Byte-permute selector that takes, for each of a q word's two elements, the k_max half of the
// summary pair where q > 0 and the k_min half otherwise (__byte_perm(min_word, max_word, sel)).
__device__ __forceinline__ uint32_t bound_selector(float2 q) {
  return (q.x > 0.f ? 0x54u : 0x10u) | (q.y > 0.f ? 0x7600u : 0x3200u);
}

// Pulls into L2 the K and V of the best page of each kPrefetchSpan-page stretch j of the tile at
// page p0 (its page bounds still in s_best, its physical pages in s_tile_phys) with
// j % stride == 0: warp w takes stretch w of the tile. Forced pages come first; a stretch with no
// candidate is skipped. k_cache and v_cache point at the kv head's rows of physical page 0, a
// physical page is page_stride elements on, and the kv head's rows of a page are page_bytes.
// Not inlined, its arguments scalars: the selection's registers are at their limit, and inlined,
// this code made the D 64 instances spill.
__device__ __noinline__ void prefetch_best_pages(const uint16_t* k_cache, const uint16_t* v_cache,
                                                 int64_t page_stride, uint32_t page_bytes,
                                                 int num_pages, int stride, int sink_pages, int p0,
                                                 int npages, const float* s_best,
                                                 const int32_t* s_tile_phys) {
  static_assert(kPrefetchSpan == 32, "a stretch is one warp's pages");
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (warp >= kTilePages / kPrefetchSpan || (p0 / kPrefetchSpan + warp) % stride != 0) return;
  const int t = warp * kPrefetchSpan + lane, p = p0 + t;
  const int32_t phys = s_tile_phys[t];
  uint32_t key = detail::kNotCandidate;
  if (p < npages && phys >= 0 && phys < num_pages) {
    float s = s_best[t];
#pragma unroll
    for (int l = 1; l < kRowLanes; ++l) s = fmaxf(s, s_best[l * kTilePages + t]);
    key = p < sink_pages || p == npages - 1 ? detail::kForcedKey : detail::score_key(s);
  }
  const uint32_t best = __reduce_max_sync(0xffffffffu, key);
  if (best == detail::kNotCandidate) return;
  if (lane == __ffs(__ballot_sync(0xffffffffu, key == best)) - 1) {
    detail::prefetch_l2(k_cache + phys * page_stride, page_bytes);
    detail::prefetch_l2(v_cache + phys * page_stride, page_bytes);
  }
}

// kSmemKeys: rank 0 selects from keys the cluster wrote into its shared memory (rows of up to
// kMaxSmemKeys pages), else from the scores in global memory. A template parameter, not a flag:
// each CTA runs this code once, fetched cold, and the path not taken would sit between its lines.
template <typename T, int D, bool kSmemKeys>
__global__ void __launch_bounds__(kThreads, 5) select_kernel(const SelectArgs a) {
  constexpr int kWords = D / 2;  // 32-bit words (element pairs) per row
  constexpr int kVecs = D / 8;   // 16-byte vectors per summary row
  constexpr int kStride = D + kPad;
  constexpr int kLoads = kTilePages * kVecs / kThreads;     // summary vectors per thread per tile
  const cg::cluster_group cluster = cg::this_cluster();
  // Remote shared memory may be written only once every CTA of the cluster runs: arrive now,
  // wait just before the first remote write. A relaxed arrive: nothing written before it needs
  // publishing, and the default (release) form puts a GPU-wide memory fence here.
  asm volatile("barrier.cluster.arrive.relaxed.aligned;\n" ::: "memory");

  const PagedKVCacheView& c = a.cache;
  const int b = blockIdx.z, h = blockIdx.y;
  const int rank = int(cluster.block_rank()), csize = int(cluster.num_blocks());
  const int pair = b * c.heads_kv + h;
  const int npages = num_valid_pages(c, b);
  const int rows = a.group * a.seqlen_q;
  const int staged_rows = min(rows, kRowsPerPass);

  extern __shared__ uint4 smem16[];
  T* s_lo = reinterpret_cast<T*>(smem16);
  T* s_hi = s_lo + kTilePages * kStride;
  float* s_q = reinterpret_cast<float*>(s_hi + kTilePages * kStride);  // [staged rows][D]
  uint32_t* s_sel = reinterpret_cast<uint32_t*>(s_q + staged_rows * D);  // [staged rows][D/2]
  uint32_t* s_keys = s_sel + staged_rows * kWords;  // [max_pages] keys, then physical pages:
  int32_t* s_phys = reinterpret_cast<int32_t*>(s_keys + c.max_pages);  // rank 0's are used
  __shared__ float s_best[kRowLanes][kTilePages];
  __shared__ int32_t s_tile_phys[kTilePages];
  __shared__ detail::CtaSelectScratch scratch;
  uint32_t* keys0 = kSmemKeys ? cluster.map_shared_rank(s_keys, 0) : nullptr;
  int32_t* phys0 = kSmemKeys ? cluster.map_shared_rank(s_phys, 0) : nullptr;

  const int32_t* table = c.page_table + int64_t(b) * c.max_pages;
  const T* q = static_cast<const T*>(a.q);
  const T* k_min = static_cast<const T*>(c.k_min);
  const T* k_max = static_cast<const T*>(c.k_max);
  const int half_page = threadIdx.x % kHalfPages, lane_row = threadIdx.x / kHalfPages;

  // q rows [r0, r0 + n) of the group (row r = head_in_group * seqlen_q + token): cp.async copies
  // their 32-bit words into s_sel (nothing in flight occupies registers), then each thread turns
  // the words it copied into floats (s_q) and byte-permute selectors (in place in s_sel).
  auto copy_q = [&](int r0, int n) {
    for (int i = threadIdx.x; i < n * kWords; i += kThreads) {
      const int r = r0 + i / kWords;
      const int head = h * a.group + r / a.seqlen_q, t = r % a.seqlen_q;
      const T* src = q + int64_t(b) * a.q_strides.batch + int64_t(head) * a.q_strides.head +
                     int64_t(t) * a.q_strides.seq + 2 * (i % kWords);
      cp_async_4(smem_u32(s_sel + i), src);
    }
  };
  auto convert_q = [&](int n) {  // after the copies of copy_q(., n) landed
    for (int i = threadIdx.x; i < n * kWords; i += kThreads) {
      const float2 f = widen2<T>(s_sel[i]);
      reinterpret_cast<float2*>(s_q)[i] = f;
      s_sel[i] = bound_selector(f);
    }
  };
  // The page-table entries of pages [p0, p0 + kTilePages) for load_tile: they do not depend on
  // the sequence length, so the first tile's are loaded together with it.
  auto table_entries = [&](int p0, int32_t (&entry)[kLoads]) {
#pragma unroll
    for (int j = 0; j < kLoads; ++j) {
      const int p = p0 + (threadIdx.x + j * kThreads) / kVecs;
      entry[j] = p < c.max_pages ? table[p] : -1;
    }
  };
  // Copies the summaries of pages [p0, p0 + kTilePages) into shared memory (cp.async: nothing
  // in flight occupies registers) as two commit groups, pages [p0, p0 + kHalfPages) first (with
  // any q copies issued before); thread t copies vector t % kVecs of pages t / kVecs +
  // j * (kThreads / kVecs). Pages past the end or unmapped get zeros (score 0).
  static_assert(kLoads % 2 == 0, "each half of a tile is whole loads");
  auto load_tile = [&](int p0, const int32_t (&entry)[kLoads]) {
#pragma unroll
    for (int j = 0; j < kLoads; ++j) {
      if (j == kLoads / 2) cp_async_commit();
      const int i = threadIdx.x + j * kThreads;
      const int pg = i / kVecs, v = i % kVecs;
      const int32_t phys = p0 + pg < npages ? entry[j] : -1;
      const bool ok = mapped(c, phys);
      const int64_t src = ok ? (int64_t(phys) * c.heads_kv + h) * D + 8 * v : 0;
      cp_async_16(smem_u32(s_lo + pg * kStride + 8 * v), k_min + src, ok ? 16 : 0);
      cp_async_16(smem_u32(s_hi + pg * kStride + 8 * v), k_max + src, ok ? 16 : 0);
      if (v == 0) s_tile_phys[pg] = phys;
    }
    cp_async_commit();
  };
  // The largest bound of this thread's page of half `half` over staged rows lane_row,
  // lane_row + kRowLanes, ...
  auto score_rows = [&](int half, int n) {
    const int page = half * kHalfPages + half_page;
    const uint4* mn = reinterpret_cast<const uint4*>(s_lo + page * kStride);
    const uint4* mx = reinterpret_cast<const uint4*>(s_hi + page * kStride);
    float best = -INFINITY;
    for (int r = lane_row; r < n; r += kRowLanes) {
      const float4* qr = reinterpret_cast<const float4*>(s_q + r * D);
      const uint4* sel = reinterpret_cast<const uint4*>(s_sel + r * kWords);
      float acc = 0.f;
#pragma unroll 4  // a full unroll hoists every vector's loads and spills
      for (int v = 0; v < kVecs; ++v) {
        const uint4 l = mn[v], u = mx[v], s = sel[v];
        const float4 q0 = qr[2 * v], q1 = qr[2 * v + 1];
        const float2 e0 = widen2<T>(__byte_perm(l.x, u.x, s.x));
        const float2 e1 = widen2<T>(__byte_perm(l.y, u.y, s.y));
        const float2 e2 = widen2<T>(__byte_perm(l.z, u.z, s.z));
        const float2 e3 = widen2<T>(__byte_perm(l.w, u.w, s.w));
        acc = fmaf(q0.x, e0.x, acc);
        acc = fmaf(q0.y, e0.y, acc);
        acc = fmaf(q0.z, e1.x, acc);
        acc = fmaf(q0.w, e1.y, acc);
        acc = fmaf(q1.x, e2.x, acc);
        acc = fmaf(q1.y, e2.y, acc);
        acc = fmaf(q1.z, e3.x, acc);
        acc = fmaf(q1.w, e3.y, acc);
      }
      best = fmaxf(best, acc);
    }
    return best;
  };

  // Every CTA runs the same number of tile iterations (at least one), so that the cluster
  // barrier's wait sits in iteration 0 for all of them.
  const int tiles = (npages + kTilePages - 1) / kTilePages;
  const int iterations = max(1, (tiles + csize - 1) / csize);
  // With one tile per CTA and keys in shared memory, the page's score is written after the
  // cluster barrier, off the path to rank 0's select.
  const bool defer_score = iterations == 1 && kSmemKeys;
  float deferred_score = 0.f;
  // The first tile's table entries and q rows are requested before the length arrives.
  int32_t entry[kLoads];
  table_entries(rank * kTilePages, entry);
  copy_q(0, staged_rows);
  for (int it = 0; it < iterations; ++it) {
    const int p0 = (rank + it * csize) * kTilePages;
    const bool active = p0 < npages;
    if (active) {
      const bool first_q = it == 0 || rows > kRowsPerPass;  // else still staged
      if (it > 0) {
        table_entries(p0, entry);
        __syncthreads();  // the previous tile is scored: its summaries may be replaced
        if (first_q) copy_q(0, staged_rows);
      }
      load_tile(p0, entry);
      float best[2] = {-INFINITY, -INFINITY};
      for (int r0 = 0; r0 < rows; r0 += kRowsPerPass) {
        const int n = min(kRowsPerPass, rows - r0);
        if (r0 > 0) {
          __syncthreads();  // the previous pass is done with s_q
          copy_q(r0, n);
          cp_async_wait_all();
        } else {
          cp_async_wait<1>();  // the first half and the q rows
        }
        if (r0 > 0 || first_q) convert_q(n);
        __syncthreads();
        best[0] = fmaxf(best[0], score_rows(0, n));
        if (r0 == 0) {
          cp_async_wait<0>();
          __syncthreads();
        }
        best[1] = fmaxf(best[1], score_rows(1, n));
      }
      s_best[lane_row][half_page] = best[0];
      s_best[lane_row][kHalfPages + half_page] = best[1];
      __syncthreads();
    }
    if (it == 0) cluster.barrier_wait();
    if (active && threadIdx.x < kTilePages && p0 + int(threadIdx.x) < npages) {
      const int p = p0 + int(threadIdx.x);
      float s = s_best[0][threadIdx.x];
#pragma unroll
      for (int l = 1; l < kRowLanes; ++l) s = fmaxf(s, s_best[l][threadIdx.x]);
      if (defer_score) deferred_score = s;
      else a.scores[int64_t(pair) * c.max_pages + p] = s;
      if (kSmemKeys) {
        const int32_t phys = s_tile_phys[threadIdx.x];
        uint32_t key = detail::score_key(s);
        if (!mapped(c, phys)) key = detail::kNotCandidate;
        else if (p < a.sink_pages || p == npages - 1) key = detail::kForcedKey;
        keys0[p] = key;
        phys0[p] = phys;
      }
    }
  }
  cp_async_wait_all();  // an inactive CTA's q copies
  cluster.sync();  // every key (and score) of the pair is written
  const int my_page = rank * kTilePages + int(threadIdx.x);
  if (defer_score && threadIdx.x < kTilePages && my_page < npages)
    a.scores[int64_t(pair) * c.max_pages + my_page] = deferred_score;
  if (rank != 0) {
    if (a.prefetch_stride > 0 && rank < tiles) {  // its last tile: the only one at B8/32k
      const int64_t page_elems = int64_t(c.page_size) * D;
      const int64_t head_offset = int64_t(h) * page_elems;
      prefetch_best_pages(static_cast<const uint16_t*>(c.k_cache) + head_offset,
                          static_cast<const uint16_t*>(c.v_cache) + head_offset,
                          c.heads_kv * page_elems, uint32_t(page_elems * 2), c.num_pages,
                          a.prefetch_stride, a.sink_pages,
                          (rank + (tiles - 1 - rank) / csize * csize) * kTilePages, npages,
                          &s_best[0][0], s_tile_phys);
    }
    return;
  }
  // The decode grid may launch (its prologue reads nothing this kernel writes) once every rank 0
  // is here; the other CTAs count by exiting.
  asm volatile("griddepcontrol.launch_dependents;\n" ::: "memory");

  if (a.arrivals != nullptr)
    for (int i = threadIdx.x; i < a.arrival_blocks; i += kThreads)
      a.arrivals[int64_t(pair) * a.arrival_blocks + i] = 0;
  // Forced pages (sinks, last) outrank every score; unmapped pages are not candidates.
  const float* scores = a.scores + int64_t(pair) * c.max_pages;
  auto key_of = [&](int i) -> uint32_t {
    if constexpr (kSmemKeys) {
      return s_keys[i];
    } else {
      if (!mapped(c, table[i])) return detail::kNotCandidate;
      if (i < a.sink_pages || i == npages - 1) return detail::kForcedKey;
      return detail::score_key(__ldcg(scores + i));  // written by other CTAs: not through L1
    }
  };
  int32_t* indices = a.indices + int64_t(pair) * c.max_pages;
  int32_t* physical = a.physical != nullptr ? a.physical + int64_t(pair) * c.max_pages : nullptr;
  const int count = detail::cta_select_topk<kSelectKeysPerThread>(
      key_of, npages, a.topk, scratch, [&](int pos, int i) {
        indices[pos] = i;
        if (physical != nullptr) physical[pos] = kSmemKeys ? s_phys[i] : table[i];
      });
  for (int pos = count + int(threadIdx.x); pos < c.max_pages; pos += kThreads) indices[pos] = -1;
  if (threadIdx.x == 0) a.counts[pair] = count;
}

template <typename T, int D, bool kSmemKeys>
void launch_cluster(const SelectArgs& a, cudaStream_t stream) {
  const PagedKVCacheView& c = a.cache;
  const int staged_rows = std::min(a.group * a.seqlen_q, kRowsPerPass);
  const std::size_t smem = sizeof(T) * 2 * kTilePages * (D + kPad) +
                           (sizeof(float) * D + sizeof(uint32_t) * D / 2) * staged_rows +
                           (kSmemKeys ? 2 * sizeof(int32_t) * c.max_pages : 0);
  TA_CUDA_CHECK(cudaFuncSetAttribute(select_kernel<T, D, kSmemKeys>,
                                     cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem)));
  const int tiles = ceil_div(c.max_pages, kTilePages);
  const unsigned cluster = unsigned(tiles < kMaxCluster ? tiles : kMaxCluster);
  cudaLaunchConfig_t config = {};
  config.gridDim = dim3(cluster, unsigned(c.heads_kv), unsigned(c.batch));
  config.blockDim = dim3(kThreads);
  config.dynamicSmemBytes = smem;
  config.stream = stream;
  cudaLaunchAttribute attribute = detail::cluster_attribute(cluster);
  config.attrs = &attribute;
  config.numAttrs = 1;
  TA_CUDA_CHECK(cudaLaunchKernelEx(&config, select_kernel<T, D, kSmemKeys>, a));
}

template <typename T, int D>
void launch_typed(const SelectArgs& a, cudaStream_t stream) {
  if (a.cache.max_pages <= kMaxSmemKeys)
    launch_cluster<T, D, true>(a, stream);
  else
    launch_cluster<T, D, false>(a, stream);
}

}  // namespace

void launch_select(const PagedKVCacheView& cache, const SparseDecodeParams& p, int32_t* indices,
                   int32_t* physical, int32_t* counts, float* scores, int32_t* arrivals,
                   int arrival_blocks, int prefetch_stride, cudaStream_t stream) {
  SelectArgs a;
  a.cache = cache;
  a.q = p.q;
  a.q_strides = p.q_strides;
  a.group = p.heads_q / cache.heads_kv;
  a.seqlen_q = p.seqlen_q;
  a.topk = p.topk;
  a.sink_pages = p.sink_pages;
  a.indices = indices;
  a.physical = physical;
  a.counts = counts;
  a.scores = scores;
  a.arrivals = arrivals;
  a.arrival_blocks = arrival_blocks;
  a.prefetch_stride = prefetch_stride;
  const bool half = cache.dtype == DType::kFloat16;
  if (cache.head_dim == 128)
    half ? launch_typed<__half, 128>(a, stream) : launch_typed<__nv_bfloat16, 128>(a, stream);
  else
    half ? launch_typed<__half, 64>(a, stream) : launch_typed<__nv_bfloat16, 64>(a, stream);
}

}  // namespace triageattention::decode
