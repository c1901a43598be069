// paged_kv_append and paged_kv_refresh_summaries: writes new tokens into their pages and keeps the
// per-page key summaries (element-wise min / max over the page's valid keys, in the cache dtype)
// current.
//
// One CTA per (touched page, kv head, sequence) copies the page's share of the new tokens, then
// re-reads the page's valid keys (old and new) to rebuild its summary; a second tiny kernel
// advances seqlens once every CTA has read the old lengths.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <type_traits>

#include "common/cuda_check.h"
#include "decode/decode_launch.h"

namespace triageattention::decode {
namespace {

constexpr int kThreads = 256;

struct AppendArgs {
  PagedKVCacheView cache;
  const uint16_t* k_new = nullptr;  // nullptr: refresh summaries only
  const uint16_t* v_new = nullptr;
  AttentionStrides k_strides, v_strides;
  int64_t new_tokens = 0;
  const int32_t* new_lens = nullptr;
};

__device__ __forceinline__ int clamp_len(int32_t v, int cap) { return v < 0 ? 0 : (v > cap ? cap : v); }

// Tokens sequence b appends: clamp(new_lens[b], 0, T), and never past the sequence's capacity.
__device__ __forceinline__ int appended(const AppendArgs& a, int b, int len, int cap) {
  const int64_t want = a.new_lens ? min(max(int64_t(a.new_lens[b]), int64_t(0)), a.new_tokens)
                                  : a.new_tokens;
  return int(min(want, int64_t(cap - len)));
}

template <typename T2>
__device__ __forceinline__ float2 widen(uint32_t bits) {
  T2 v;
  memcpy(&v, &bits, 4);
  if constexpr (std::is_same_v<T2, __half2>) return __half22float2(v);
  else return __bfloat1622float2(v);
}

// A float that holds a 16-bit value of the cache dtype (a min / max of keys) back to its bits:
// exact, no rounding happens.
template <typename T2>
__device__ __forceinline__ uint16_t narrow(float x) {
  if constexpr (std::is_same_v<T2, __half2>) return __half_as_ushort(__float2half_rn(x));
  else return __bfloat16_as_ushort(__float2bfloat16_rn(x));
}

template <typename T2>
__global__ void __launch_bounds__(kThreads) append_kernel(const AppendArgs a) {
  const PagedKVCacheView& c = a.cache;
  const int b = blockIdx.z, h = blockIdx.y;
  const int ps = c.page_size, D = c.head_dim;
  const int cap = c.max_pages * ps;
  const int len = clamp_len(c.seqlens[b], cap);
  int start = len, end = len, page = blockIdx.x;
  if (a.k_new != nullptr) {
    end = len + appended(a, b, len, cap);
    if (end == start) return;
    page += start / ps;
  }
  if (int64_t(page) * ps >= end) return;
  const int32_t phys = c.page_table[int64_t(b) * c.max_pages + page];
  if (phys < 0 || phys >= c.num_pages) return;  // unmapped: never dereferenced

  const int64_t page_offset = (int64_t(phys) * c.heads_kv + h) * ps * D;
  uint16_t* k_page = static_cast<uint16_t*>(c.k_cache) + page_offset;
  uint16_t* v_page = static_cast<uint16_t*>(c.v_cache) + page_offset;
  const int first_row = page * ps;
  const int valid = min(ps, end - first_row);

  if (a.k_new != nullptr) {
    const int vecs = D / 8;  // 16-byte vectors per row
    const int row0 = max(start - first_row, 0);
    const uint16_t* k_src = a.k_new + int64_t(b) * a.k_strides.batch + int64_t(h) * a.k_strides.head;
    const uint16_t* v_src = a.v_new + int64_t(b) * a.v_strides.batch + int64_t(h) * a.v_strides.head;
    for (int i = threadIdx.x; i < (valid - row0) * vecs; i += kThreads) {
      const int r = row0 + i / vecs, e = (i % vecs) * 8;
      const int64_t t = first_row + r - start;  // index among the new tokens
      *reinterpret_cast<uint4*>(k_page + r * D + e) =
          *reinterpret_cast<const uint4*>(k_src + t * a.k_strides.seq + e);
      *reinterpret_cast<uint4*>(v_page + r * D + e) =
          *reinterpret_cast<const uint4*>(v_src + t * a.v_strides.seq + e);
    }
    __syncthreads();  // the block's global writes are visible to all its threads after this
  }

  // Summary: thread (column pair, row group) scans its rows; row groups merge through smem.
  __shared__ float s_min[kThreads * 2], s_max[kThreads * 2];
  const int pairs = D / 2, groups = kThreads / pairs;
  const int cp = threadIdx.x % pairs, g = threadIdx.x / pairs;
  float2 mn = make_float2(INFINITY, INFINITY), mx = make_float2(-INFINITY, -INFINITY);
  for (int r = g; r < valid; r += groups) {
    const float2 x = widen<T2>(*reinterpret_cast<const uint32_t*>(k_page + r * D + 2 * cp));
    mn = make_float2(fminf(mn.x, x.x), fminf(mn.y, x.y));
    mx = make_float2(fmaxf(mx.x, x.x), fmaxf(mx.y, x.y));
  }
  s_min[g * D + 2 * cp] = mn.x;
  s_min[g * D + 2 * cp + 1] = mn.y;
  s_max[g * D + 2 * cp] = mx.x;
  s_max[g * D + 2 * cp + 1] = mx.y;
  __syncthreads();
  if (threadIdx.x < D) {
    float lo = s_min[threadIdx.x], hi = s_max[threadIdx.x];
    for (int k = 1; k < groups; ++k) {
      lo = fminf(lo, s_min[k * D + threadIdx.x]);
      hi = fmaxf(hi, s_max[k * D + threadIdx.x]);
    }
    const int64_t s = (int64_t(phys) * c.heads_kv + h) * D + threadIdx.x;
    static_cast<uint16_t*>(c.k_min)[s] = narrow<T2>(lo);
    static_cast<uint16_t*>(c.k_max)[s] = narrow<T2>(hi);
  }
}

__global__ void advance_seqlens_kernel(const AppendArgs a) {
  const int b = blockIdx.x * blockDim.x + threadIdx.x;
  if (b >= a.cache.batch) return;
  const int cap = a.cache.max_pages * a.cache.page_size;
  const int len = clamp_len(a.cache.seqlens[b], cap);
  a.cache.seqlens[b] = len + appended(a, b, len, cap);
}

void launch(const AppendArgs& a, int slots, cudaStream_t stream) {
  const PagedKVCacheView& c = a.cache;
  const dim3 grid(unsigned(slots), unsigned(c.heads_kv), unsigned(c.batch));
  if (c.dtype == DType::kFloat16)
    append_kernel<__half2><<<grid, kThreads, 0, stream>>>(a);
  else
    append_kernel<__nv_bfloat162><<<grid, kThreads, 0, stream>>>(a);
  TA_CUDA_CHECK(cudaGetLastError());
}

}  // namespace

void launch_append(const PagedKVCacheView& cache, const PagedAppendParams& p,
                   cudaStream_t stream) {
  AppendArgs a;
  a.cache = cache;
  a.k_new = static_cast<const uint16_t*>(p.k_new);
  a.v_new = static_cast<const uint16_t*>(p.v_new);
  a.k_strides = p.k_strides;
  a.v_strides = p.v_strides;
  a.new_tokens = p.new_tokens;
  a.new_lens = p.new_lens;
  // The new tokens of a sequence touch at most ceil(T / page_size) + 1 pages.
  const int64_t slots = std::min<int64_t>((p.new_tokens - 1) / cache.page_size + 2, cache.max_pages);
  launch(a, int(slots), stream);
  advance_seqlens_kernel<<<ceil_div(cache.batch, 128), 128, 0, stream>>>(a);
  TA_CUDA_CHECK(cudaGetLastError());
}

void launch_refresh_summaries(const PagedKVCacheView& cache, cudaStream_t stream) {
  AppendArgs a;
  a.cache = cache;
  launch(a, cache.max_pages, stream);
}

}  // namespace triageattention::decode
