// Decode page selection: Quest upper-bound scores of every page holding valid tokens, then one
// warp per (sequence, kv head) picks the top-k with warp_select_topk.
//
// Scoring is spread over CTAs of kPagesPerCta pages so that reading the fp32 summaries (2 * D
// floats per page and kv head) runs at memory bandwidth. Lane l of each warp owns page l of the
// CTA and the warps split the query rows; every score sums over d in order (exact products of
// 16-bit values, one rounding per add), which the CPU reference repeats bit for bit.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <type_traits>

#include "common/cuda_check.h"
#include "common/warp_topk.cuh"
#include "decode/decode_launch.h"

namespace triageattention::decode {
namespace {

constexpr int kThreads = 128;
constexpr int kWarps = kThreads / 32;
constexpr int kPagesPerCta = 32;
constexpr int kRowsPerPass = 32;  // query rows staged in shared memory at a time
constexpr int kPad = 4;           // floats: 16-byte row alignment, no bank conflicts for LDS.128

struct SelectArgs {
  PagedKVCacheView cache;
  const void* q = nullptr;
  AttentionStrides q_strides;
  int group = 0, seqlen_q = 0, topk = 0, sink_pages = 0;
  int32_t* indices = nullptr;
  int32_t* counts = nullptr;
  float* scores = nullptr;
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

template <typename T>
__global__ void __launch_bounds__(kThreads) score_kernel(const SelectArgs a) {
  const PagedKVCacheView& c = a.cache;
  const int b = blockIdx.z, h = blockIdx.y, D = c.head_dim;
  const int npages = num_valid_pages(c, b);
  const int p0 = blockIdx.x * kPagesPerCta;
  if (p0 >= npages) return;

  extern __shared__ float4 smem4[];
  float* s_min = reinterpret_cast<float*>(smem4);
  float* s_max = s_min + kPagesPerCta * (D + kPad);
  float* s_q = s_max + kPagesPerCta * (D + kPad);
  __shared__ float s_best[kWarps][kPagesPerCta];

  const int32_t* table = c.page_table + int64_t(b) * c.max_pages;
  const int vecs = D / 4;
  for (int i = threadIdx.x; i < kPagesPerCta * vecs; i += kThreads) {
    const int pg = i / vecs, v = i % vecs;
    const int p = p0 + pg;
    float4 lo = make_float4(0.f, 0.f, 0.f, 0.f), hi = lo;
    const int32_t phys = p < npages ? table[p] : -1;
    if (mapped(c, phys)) {
      const int64_t s = (int64_t(phys) * c.heads_kv + h) * D + 4 * v;
      lo = *reinterpret_cast<const float4*>(c.k_min + s);
      hi = *reinterpret_cast<const float4*>(c.k_max + s);
    }
    *reinterpret_cast<float4*>(s_min + pg * (D + kPad) + 4 * v) = lo;
    *reinterpret_cast<float4*>(s_max + pg * (D + kPad) + 4 * v) = hi;
  }

  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int rows = a.group * a.seqlen_q;
  const T* q = static_cast<const T*>(a.q);
  float best = -INFINITY;
  for (int r0 = 0; r0 < rows; r0 += kRowsPerPass) {
    const int n = min(kRowsPerPass, rows - r0);
    __syncthreads();  // the previous pass is done with s_q (and the summaries are stored)
    for (int i = threadIdx.x; i < n * D; i += kThreads) {
      const int r = r0 + i / D, d = i % D;
      const int head = h * a.group + r / a.seqlen_q, t = r % a.seqlen_q;
      s_q[(i / D) * D + d] = to_float(q[int64_t(b) * a.q_strides.batch +
                                        int64_t(head) * a.q_strides.head +
                                        int64_t(t) * a.q_strides.seq + d]);
    }
    __syncthreads();
    const float4* mn = reinterpret_cast<const float4*>(s_min + lane * (D + kPad));
    const float4* mx = reinterpret_cast<const float4*>(s_max + lane * (D + kPad));
    for (int r = warp; r < n; r += kWarps) {
      const float4* qr = reinterpret_cast<const float4*>(s_q + r * D);
      float acc = 0.f;
      for (int v = 0; v < vecs; ++v) {
        const float4 qv = qr[v], lo = mn[v], hi = mx[v];
        acc += fmaxf(qv.x * lo.x, qv.x * hi.x);
        acc += fmaxf(qv.y * lo.y, qv.y * hi.y);
        acc += fmaxf(qv.z * lo.z, qv.z * hi.z);
        acc += fmaxf(qv.w * lo.w, qv.w * hi.w);
      }
      best = fmaxf(best, acc);
    }
  }
  s_best[warp][lane] = best;
  __syncthreads();
  if (threadIdx.x < kPagesPerCta && p0 + int(threadIdx.x) < npages) {
    float s = s_best[0][threadIdx.x];
    for (int w = 1; w < kWarps; ++w) s = fmaxf(s, s_best[w][threadIdx.x]);
    a.scores[(int64_t(b) * c.heads_kv + h) * c.max_pages + p0 + threadIdx.x] = s;
  }
}

// One warp per (sequence, kv head): forced pages (sinks, last) outrank every score; pages with an
// unmapped physical index are not candidates. Pads the list with -1 up to max_pages.
__global__ void __launch_bounds__(kThreads) topk_kernel(const SelectArgs a) {
  __shared__ uint32_t histogram[kWarps][256];
  const PagedKVCacheView& c = a.cache;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int pair = blockIdx.x * kWarps + warp;
  if (pair >= c.batch * c.heads_kv) return;
  const int b = pair / c.heads_kv;
  const int npages = num_valid_pages(c, b);
  const int32_t* table = c.page_table + int64_t(b) * c.max_pages;
  const float* scores = a.scores + int64_t(pair) * c.max_pages;
  int32_t* indices = a.indices + int64_t(pair) * c.max_pages;
  auto key_of = [&](int i) -> uint32_t {
    if (!mapped(c, table[i])) return detail::kNotCandidate;
    if (i < a.sink_pages || i == npages - 1) return detail::kForcedKey;
    return detail::score_key(scores[i]);
  };
  const int count = detail::warp_select_topk(key_of, npages, a.topk, histogram[warp],
                                             [&](int pos, int i) { indices[pos] = i; });
  for (int pos = count + lane; pos < c.max_pages; pos += 32) indices[pos] = -1;
  if (lane == 0) a.counts[pair] = count;
}

}  // namespace

void launch_select(const PagedKVCacheView& cache, const SparseDecodeParams& p, int32_t* indices,
                   int32_t* counts, float* scores, cudaStream_t stream) {
  SelectArgs a;
  a.cache = cache;
  a.q = p.q;
  a.q_strides = p.q_strides;
  a.group = p.heads_q / cache.heads_kv;
  a.seqlen_q = p.seqlen_q;
  a.topk = p.topk;
  a.sink_pages = p.sink_pages;
  a.indices = indices;
  a.counts = counts;
  a.scores = scores;
  const int D = cache.head_dim;
  const std::size_t smem = sizeof(float) * (2 * kPagesPerCta * (D + kPad) + kRowsPerPass * D);
  const dim3 grid(unsigned(ceil_div(cache.max_pages, kPagesPerCta)), unsigned(cache.heads_kv),
                  unsigned(cache.batch));
  // At most 2 * 32 * 132 + 32 * 128 floats = 50 KB: above the 48 KB default for D = 128.
  if (cache.dtype == DType::kFloat16) {
    TA_CUDA_CHECK(cudaFuncSetAttribute(score_kernel<__half>,
                                       cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem)));
    score_kernel<__half><<<grid, kThreads, smem, stream>>>(a);
  } else {
    TA_CUDA_CHECK(cudaFuncSetAttribute(score_kernel<__nv_bfloat16>,
                                       cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem)));
    score_kernel<__nv_bfloat16><<<grid, kThreads, smem, stream>>>(a);
  }
  TA_CUDA_CHECK(cudaGetLastError());
  topk_kernel<<<ceil_div(int64_t(cache.batch) * cache.heads_kv, kWarps), kThreads, 0, stream>>>(a);
  TA_CUDA_CHECK(cudaGetLastError());
}

}  // namespace triageattention::decode
