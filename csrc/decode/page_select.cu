// Decode page selection in one kernel: Quest upper-bound scores of every page holding valid
// tokens, then the top-k of each (sequence, kv head) with warp_select_topk.
//
// A cluster of up to kMaxCluster CTAs serves one (sequence, kv head): CTA r scores the 64-page
// tiles r, r + C, ... (summaries and q staged in shared memory), writes each page's score to the
// workspace and its selection key into rank 0's shared memory (DSMEM), so that after one cluster
// barrier rank 0 runs the radix select on keys in shared memory, with no second launch and no
// key reloads from global memory. Every score sums over d in order (exact products of 16-bit
// values, one rounding per add), which the CPU reference repeats bit for bit.
#include <cooperative_groups.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <type_traits>

#include "common/cuda_check.h"
#include "common/warp_topk.cuh"
#include "decode/decode_launch.h"

namespace triageattention::decode {
namespace {

namespace cg = cooperative_groups;

constexpr int kThreads = 256;
constexpr int kTilePages = 64;
constexpr int kRowLanes = kThreads / kTilePages;  // threads of one page split its query rows
constexpr int kRowsPerPass = 32;                  // query rows staged in shared memory at a time
constexpr int kPad = 8;  // 16-bit elements: a summary row is an odd number of 16-byte units, so
                         // 16-byte reads of consecutive pages hit distinct banks
constexpr int kMaxCluster = 8;
constexpr int kMaxSmemKeys = 16384;  // more pages: rank 0 rebuilds keys from global scores

struct SelectArgs {
  PagedKVCacheView cache;
  const void* q = nullptr;
  AttentionStrides q_strides;
  int group = 0, seqlen_q = 0, topk = 0, sink_pages = 0;
  bool smem_keys = false;
  int32_t* indices = nullptr;
  int32_t* counts = nullptr;
  float* scores = nullptr;
  int32_t* arrivals = nullptr;
  int arrival_blocks = 0;
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

template <typename T>
__device__ __forceinline__ float to_float(T x) {
  if constexpr (std::is_same_v<T, __half>) return __half2float(x);
  else return __bfloat162float(x);
}

// Eight 16-bit values (one 16-byte vector) widened to float.
template <typename T>
__device__ __forceinline__ void widen8(const uint4& v, float (&f)[8]) {
  const uint32_t w[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    if constexpr (std::is_same_v<T, __half>) {
      __half2 h;
      memcpy(&h, &w[i], 4);
      const float2 x = __half22float2(h);
      f[2 * i] = x.x;
      f[2 * i + 1] = x.y;
    } else {
      __nv_bfloat162 h;
      memcpy(&h, &w[i], 4);
      const float2 x = __bfloat1622float2(h);
      f[2 * i] = x.x;
      f[2 * i + 1] = x.y;
    }
  }
}

template <typename T, int D>
__global__ void __launch_bounds__(kThreads) select_kernel(const SelectArgs a) {
  constexpr int kVecs = D / 8;  // 16-byte vectors per summary row
  constexpr int kStride = D + kPad;
  const cg::cluster_group cluster = cg::this_cluster();
  // Remote shared memory may be written only once every CTA of the cluster runs: arrive now,
  // wait just before the first remote write.
  cluster.barrier_arrive();

  const PagedKVCacheView& c = a.cache;
  const int b = blockIdx.z, h = blockIdx.y;
  const int rank = int(cluster.block_rank()), csize = int(cluster.num_blocks());
  const int pair = b * c.heads_kv + h;
  const int npages = num_valid_pages(c, b);
  const int rows = a.group * a.seqlen_q;

  extern __shared__ uint4 smem16[];
  T* s_lo = reinterpret_cast<T*>(smem16);
  T* s_hi = s_lo + kTilePages * kStride;
  float* s_q = reinterpret_cast<float*>(s_hi + kTilePages * kStride);
  uint32_t* s_keys = reinterpret_cast<uint32_t*>(s_q + kRowsPerPass * D);  // rank 0's are used
  __shared__ float s_best[kRowLanes][kTilePages];
  __shared__ uint32_t histogram[256];
  uint32_t* keys0 = a.smem_keys ? cluster.map_shared_rank(s_keys, 0) : nullptr;

  const int32_t* table = c.page_table + int64_t(b) * c.max_pages;
  const T* q = static_cast<const T*>(a.q);
  const T* k_min = static_cast<const T*>(c.k_min);
  const T* k_max = static_cast<const T*>(c.k_max);
  const int page = threadIdx.x % kTilePages, lane_row = threadIdx.x / kTilePages;

  // Every CTA runs the same number of tile iterations (at least one), so that the cluster
  // barrier's wait sits in iteration 0 for all of them.
  const int tiles = (npages + kTilePages - 1) / kTilePages;
  const int iterations = max(1, (tiles + csize - 1) / csize);
  for (int it = 0; it < iterations; ++it) {
    const int p0 = (rank + it * csize) * kTilePages;
    const bool active = p0 < npages;
    float best = -INFINITY;
    if (active) {
      __syncthreads();  // the previous tile is scored: its summaries (and q) may be replaced
#pragma unroll
      for (int j = 0; j < kTilePages * kVecs / kThreads; ++j) {
        const int i = threadIdx.x + j * kThreads;
        const int pg = i / kVecs, v = i % kVecs;
        const int p = p0 + pg;
        uint4 lo = make_uint4(0u, 0u, 0u, 0u), hi = lo;  // zeros: an unmapped page scores 0
        const int32_t phys = p < npages ? table[p] : -1;
        if (mapped(c, phys)) {
          const int64_t s = (int64_t(phys) * c.heads_kv + h) * D + 8 * v;
          lo = *reinterpret_cast<const uint4*>(k_min + s);
          hi = *reinterpret_cast<const uint4*>(k_max + s);
        }
        *reinterpret_cast<uint4*>(s_lo + pg * kStride + 8 * v) = lo;
        *reinterpret_cast<uint4*>(s_hi + pg * kStride + 8 * v) = hi;
      }
      for (int r0 = 0; r0 < rows; r0 += kRowsPerPass) {
        const int n = min(kRowsPerPass, rows - r0);
        if (rows > kRowsPerPass || it == 0) {  // else q is still staged from iteration 0
          if (r0 > 0) __syncthreads();          // the previous pass is done with s_q
          for (int i = threadIdx.x; i < n * D; i += kThreads) {
            const int r = r0 + i / D, d = i % D;
            const int head = h * a.group + r / a.seqlen_q, t = r % a.seqlen_q;
            s_q[i] = to_float(q[int64_t(b) * a.q_strides.batch + int64_t(head) * a.q_strides.head +
                                int64_t(t) * a.q_strides.seq + d]);
          }
        }
        __syncthreads();
        const uint4* mn = reinterpret_cast<const uint4*>(s_lo + page * kStride);
        const uint4* mx = reinterpret_cast<const uint4*>(s_hi + page * kStride);
        for (int r = lane_row; r < n; r += kRowLanes) {
          const float4* qr = reinterpret_cast<const float4*>(s_q + r * D);
          float acc = 0.f;
#pragma unroll
          for (int v = 0; v < kVecs; ++v) {
            float lo[8], hi[8];
            widen8<T>(mn[v], lo);
            widen8<T>(mx[v], hi);
            const float4 q0 = qr[2 * v], q1 = qr[2 * v + 1];
            const float qv[8] = {q0.x, q0.y, q0.z, q0.w, q1.x, q1.y, q1.z, q1.w};
#pragma unroll
            for (int e = 0; e < 8; ++e) acc += fmaxf(qv[e] * lo[e], qv[e] * hi[e]);
          }
          best = fmaxf(best, acc);
        }
      }
      s_best[lane_row][page] = best;
      __syncthreads();
    }
    if (it == 0) cluster.barrier_wait();
    if (active && threadIdx.x < kTilePages && p0 + int(threadIdx.x) < npages) {
      const int p = p0 + int(threadIdx.x);
      float s = s_best[0][threadIdx.x];
#pragma unroll
      for (int l = 1; l < kRowLanes; ++l) s = fmaxf(s, s_best[l][threadIdx.x]);
      a.scores[int64_t(pair) * c.max_pages + p] = s;
      if (keys0 != nullptr) {
        uint32_t key = detail::score_key(s);
        if (!mapped(c, table[p])) key = detail::kNotCandidate;
        else if (p < a.sink_pages || p == npages - 1) key = detail::kForcedKey;
        keys0[p] = key;
      }
    }
  }
  cluster.sync();  // every key (and score) of the pair is written
  if (rank != 0) return;
  // The decode grid may launch (its prologue reads nothing this kernel writes) once every rank 0
  // is here; the other CTAs count by exiting.
  asm volatile("griddepcontrol.launch_dependents;\n" ::: "memory");

  if (a.arrivals != nullptr)
    for (int i = threadIdx.x; i < a.arrival_blocks; i += kThreads)
      a.arrivals[int64_t(pair) * a.arrival_blocks + i] = 0;
  if (threadIdx.x >= 32) return;
  // Forced pages (sinks, last) outrank every score; unmapped pages are not candidates.
  const float* scores = a.scores + int64_t(pair) * c.max_pages;
  auto key_of = [&](int i) -> uint32_t {
    if (a.smem_keys) return s_keys[i];
    if (!mapped(c, table[i])) return detail::kNotCandidate;
    if (i < a.sink_pages || i == npages - 1) return detail::kForcedKey;
    return detail::score_key(__ldcg(scores + i));  // written by other CTAs: not through L1
  };
  int32_t* indices = a.indices + int64_t(pair) * c.max_pages;
  const int count = detail::warp_select_topk(key_of, npages, a.topk, histogram,
                                             [&](int pos, int i) { indices[pos] = i; });
  for (int pos = count + int(threadIdx.x); pos < c.max_pages; pos += 32) indices[pos] = -1;
  if (threadIdx.x == 0) a.counts[pair] = count;
}

template <typename T, int D>
void launch_typed(const SelectArgs& a, cudaStream_t stream) {
  const PagedKVCacheView& c = a.cache;
  const std::size_t smem = sizeof(T) * 2 * kTilePages * (D + kPad) +
                           sizeof(float) * kRowsPerPass * D +
                           (a.smem_keys ? sizeof(uint32_t) * c.max_pages : 0);
  TA_CUDA_CHECK(cudaFuncSetAttribute(select_kernel<T, D>,
                                     cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem)));
  const int tiles = ceil_div(c.max_pages, kTilePages);
  const unsigned cluster = unsigned(tiles < kMaxCluster ? tiles : kMaxCluster);
  cudaLaunchConfig_t config = {};
  config.gridDim = dim3(cluster, unsigned(c.heads_kv), unsigned(c.batch));
  config.blockDim = dim3(kThreads);
  config.dynamicSmemBytes = smem;
  config.stream = stream;
  cudaLaunchAttribute attribute;
  attribute.id = cudaLaunchAttributeClusterDimension;
  attribute.val.clusterDim.x = cluster;
  attribute.val.clusterDim.y = 1;
  attribute.val.clusterDim.z = 1;
  config.attrs = &attribute;
  config.numAttrs = 1;
  TA_CUDA_CHECK(cudaLaunchKernelEx(&config, select_kernel<T, D>, a));
}

}  // namespace

void launch_select(const PagedKVCacheView& cache, const SparseDecodeParams& p, int32_t* indices,
                   int32_t* counts, float* scores, int32_t* arrivals, int arrival_blocks,
                   cudaStream_t stream) {
  SelectArgs a;
  a.cache = cache;
  a.q = p.q;
  a.q_strides = p.q_strides;
  a.group = p.heads_q / cache.heads_kv;
  a.seqlen_q = p.seqlen_q;
  a.topk = p.topk;
  a.sink_pages = p.sink_pages;
  a.smem_keys = cache.max_pages <= kMaxSmemKeys;
  a.indices = indices;
  a.counts = counts;
  a.scores = scores;
  a.arrivals = arrivals;
  a.arrival_blocks = arrival_blocks;
  const bool half = cache.dtype == DType::kFloat16;
  if (cache.head_dim == 128)
    half ? launch_typed<__half, 128>(a, stream) : launch_typed<__nv_bfloat16, 128>(a, stream);
  else
    half ? launch_typed<__half, 64>(a, stream) : launch_typed<__nv_bfloat16, 64>(a, stream);
}

}  // namespace triageattention::decode
