// Host entry points of the KV-cache decode family: argument checks, workspace layout, dispatch.
#include <cmath>
#include <cstdint>
#include <limits>

#include "common/attention_checks.h"
#include "common/cuda_check.h"
#include "decode/decode_launch.h"
#include "triageattention/decode.h"

namespace triageattention {
namespace {

using detail::aligned;
using detail::check_attention_tensor;
using detail::throw_invalid;

void check_cache(const char* fn, const PagedKVCacheView& c) {
  if (c.dtype != DType::kFloat16 && c.dtype != DType::kBFloat16)
    throw_invalid(fn, "cache dtype must be float16 or bfloat16, got ", dtype_name(c.dtype));
  if (c.head_dim != 64 && c.head_dim != 128)
    throw_invalid(fn, "head_dim must be 64 or 128, got ", c.head_dim);
  if (c.page_size != 16 && c.page_size != 32 && c.page_size != 64 && c.page_size != 128)
    throw_invalid(fn, "page_size must be 16, 32, 64 or 128, got ", c.page_size);
  if (c.batch < 0) throw_invalid(fn, "batch must be >= 0, got ", c.batch);
  if (c.heads_kv < 1) throw_invalid(fn, "heads_kv must be >= 1, got ", c.heads_kv);
  if (c.max_pages < 1) throw_invalid(fn, "max_pages must be >= 1, got ", c.max_pages);
  if (c.num_pages < 1) throw_invalid(fn, "num_pages must be >= 1, got ", c.num_pages);
  // Token positions are 32-bit in the kernels.
  if (int64_t(c.max_pages) * c.page_size > std::numeric_limits<int32_t>::max() / 2)
    throw_invalid(fn, "max_pages * page_size must be < 2^30 tokens, got ", c.max_pages, " * ",
                  c.page_size);
  if (c.k_cache == nullptr || c.v_cache == nullptr)
    throw_invalid(fn, "k_cache and v_cache must be non-null");
  if (!aligned(c.k_cache, 16) || !aligned(c.v_cache, 16))
    throw_invalid(fn, "k_cache and v_cache must be 16-byte aligned");
  if (c.k_min == nullptr || c.k_max == nullptr)
    throw_invalid(fn, "k_min and k_max must be non-null");
  if (!aligned(c.k_min, 16) || !aligned(c.k_max, 16))
    throw_invalid(fn, "k_min and k_max must be 16-byte aligned");
  if (c.page_table == nullptr || !aligned(c.page_table, 4))
    throw_invalid(fn, "page_table must be a non-null, 4-byte aligned int32 array");
  if (c.seqlens == nullptr || !aligned(c.seqlens, 4))
    throw_invalid(fn, "seqlens must be a non-null, 4-byte aligned int32 array");
}

// Checks shared by sparse_decode and select_decode_pages.
void check_query(const char* fn, const PagedKVCacheView& c, const SparseDecodeParams& p) {
  check_cache(fn, c);
  if (p.heads_q < 1 || p.heads_q % c.heads_kv != 0)
    throw_invalid(fn, "heads_q (", p.heads_q, ") must be a positive multiple of heads_kv (",
                  c.heads_kv, ") for GQA/MQA");
  if (p.seqlen_q < 1 || p.seqlen_q > kMaxDecodeQueryTokens)
    throw_invalid(fn, "seqlen_q (new query tokens per sequence) must be in [1, ",
                  kMaxDecodeQueryTokens, "], got ", p.seqlen_q);
  if (p.topk < 1) throw_invalid(fn, "topk must be >= 1, got ", p.topk);
  if (p.sink_pages < 0) throw_invalid(fn, "sink_pages must be >= 0, got ", p.sink_pages);
  if (!(p.scale >= 0.f) || !std::isfinite(p.scale))
    throw_invalid(fn, "scale must be positive and finite (0 selects 1/sqrt(head_dim)), got ",
                  p.scale);
  if (c.batch > 0)
    check_attention_tensor(fn, "q", p.q, p.q_strides, c.batch, p.heads_q, p.seqlen_q, 4, 2);
}

}  // namespace

namespace decode {

WorkspaceLayout workspace_layout(int batch, int heads_kv, int heads_q, int seqlen_q,
                                 int max_pages, int head_dim) {
  auto align = [](std::size_t x) { return (x + 255) / 256 * 256; };
  const std::size_t pairs = std::size_t(batch) * heads_kv;
  const int blocks = row_blocks(heads_q, heads_kv, seqlen_q);
  const std::size_t partials =
      pairs * num_splits(batch, heads_kv, blocks, int64_t(max_pages) * kMaxPageSize, false) *
      std::size_t(heads_q / heads_kv) * seqlen_q;
  WorkspaceLayout l;
  l.indices = 0;
  l.physical = align(l.indices + pairs * max_pages * 4);
  l.counts = align(l.physical + pairs * max_pages * 4);
  l.scores = align(l.counts + pairs * 4);
  l.arrivals = align(l.scores + pairs * max_pages * 4);
  l.partial_lse = align(l.arrivals + pairs * blocks * 4);
  l.partial_out = align(l.partial_lse + partials * 4);
  l.total = align(l.partial_out + partials * head_dim * 4);
  return l;
}

}  // namespace decode

void check_paged_kv_append(const PagedKVCacheView& cache, const PagedAppendParams& p) {
  constexpr const char* fn = "paged_kv_append: ";
  check_cache(fn, cache);
  if (p.new_tokens < 0 || p.new_tokens > std::numeric_limits<int32_t>::max() / 2)
    throw_invalid(fn, "new_tokens must be in [0, 2^30), got ", p.new_tokens);
  if (cache.batch > 0 && p.new_tokens > 0) {
    check_attention_tensor(fn, "k_new", p.k_new, p.k_strides, cache.batch, cache.heads_kv,
                           p.new_tokens, 16, 8);
    check_attention_tensor(fn, "v_new", p.v_new, p.v_strides, cache.batch, cache.heads_kv,
                           p.new_tokens, 16, 8);
  }
  if (p.new_lens != nullptr && !aligned(p.new_lens, 4))
    throw_invalid(fn, "new_lens must be a 4-byte aligned int32 array");
}

void paged_kv_append(const PagedKVCacheView& cache, const PagedAppendParams& p,
                     cudaStream_t stream) {
  check_paged_kv_append(cache, p);
  if (cache.batch == 0 || p.new_tokens == 0) return;
  decode::launch_append(cache, p, stream);
}

void paged_kv_refresh_summaries(const PagedKVCacheView& cache, cudaStream_t stream) {
  check_cache("paged_kv_refresh_summaries: ", cache);
  if (cache.batch == 0) return;
  decode::launch_refresh_summaries(cache, stream);
}

std::size_t sparse_decode_workspace_bytes(int batch, int heads_kv, int heads_q, int seqlen_q,
                                          int max_pages, int head_dim) {
  constexpr const char* fn = "sparse_decode_workspace_bytes: ";
  if (batch < 0 || heads_kv < 1 || max_pages < 1)
    throw_invalid(fn, "need batch >= 0, heads_kv >= 1 and max_pages >= 1, got ", batch, ", ",
                  heads_kv, ", ", max_pages);
  if (heads_q < 1 || heads_q % heads_kv != 0)
    throw_invalid(fn, "heads_q (", heads_q, ") must be a positive multiple of heads_kv (",
                  heads_kv, ")");
  if (seqlen_q < 1 || seqlen_q > kMaxDecodeQueryTokens)
    throw_invalid(fn, "seqlen_q must be in [1, ", kMaxDecodeQueryTokens, "], got ", seqlen_q);
  if (head_dim != 64 && head_dim != 128)
    throw_invalid(fn, "head_dim must be 64 or 128, got ", head_dim);
  return decode::workspace_layout(batch, heads_kv, heads_q, seqlen_q, max_pages, head_dim).total;
}

void check_sparse_decode_params(const PagedKVCacheView& cache, const SparseDecodeParams& p) {
  constexpr const char* fn = "sparse_decode: ";
  check_query(fn, cache, p);
  if (cache.batch == 0) return;
  check_attention_tensor(fn, "out", p.out, p.out_strides, cache.batch, p.heads_q, p.seqlen_q, 4, 2);
  if (p.lse != nullptr && !aligned(p.lse, 4)) throw_invalid(fn, "lse must be 4-byte aligned");
  const std::size_t need = sparse_decode_workspace_bytes(
      cache.batch, cache.heads_kv, p.heads_q, p.seqlen_q, cache.max_pages, cache.head_dim);
  if (p.workspace == nullptr || !aligned(p.workspace, 256))
    throw_invalid(fn, "workspace must be non-null and 256-byte aligned");
  if (p.workspace_bytes < need)
    throw_invalid(fn, "workspace_bytes must be >= sparse_decode_workspace_bytes(...) = ", need,
                  ", got ", p.workspace_bytes);
}

void select_decode_pages(const PagedKVCacheView& cache, const SparseDecodeParams& p,
                         int32_t* indices, int32_t* counts, float* scores, cudaStream_t stream) {
  constexpr const char* fn = "select_decode_pages: ";
  check_query(fn, cache, p);
  if (indices == nullptr || counts == nullptr || scores == nullptr)
    throw_invalid(fn, "indices, counts and scores must be non-null");
  if (!aligned(indices, 4) || !aligned(counts, 4) || !aligned(scores, 4))
    throw_invalid(fn, "indices, counts and scores must be 4-byte aligned");
  if (cache.batch == 0) return;
  decode::launch_select(cache, p, indices, nullptr, counts, scores, nullptr, 0, 0, stream);
}

void sparse_decode(const PagedKVCacheView& cache, const SparseDecodeParams& p,
                   cudaStream_t stream) {
  check_sparse_decode_params(cache, p);
  if (cache.batch == 0) return;
  const decode::WorkspaceLayout l = decode::workspace_layout(
      cache.batch, cache.heads_kv, p.heads_q, p.seqlen_q, cache.max_pages, cache.head_dim);
  char* ws = static_cast<char*>(p.workspace);
  decode::DecodeArgs a;
  a.cache = cache;
  a.p = p;
  a.group = p.heads_q / cache.heads_kv;
  a.rows = a.group * p.seqlen_q;
  a.row_blocks = decode::row_blocks(p.heads_q, cache.heads_kv, p.seqlen_q);
  const bool dense = p.topk >= cache.max_pages;
  a.splits = decode::num_splits(cache.batch, cache.heads_kv, a.row_blocks,
                                int64_t(dense ? cache.max_pages : p.topk) * cache.page_size,
                                dense);
  a.arrivals = reinterpret_cast<int32_t*>(ws + l.arrivals);
  a.partial_lse = reinterpret_cast<float*>(ws + l.partial_lse);
  a.partial_out = reinterpret_cast<float*>(ws + l.partial_out);
  if (!dense) {
    int32_t* indices = reinterpret_cast<int32_t*>(ws + l.indices);
    int32_t* physical = reinterpret_cast<int32_t*>(ws + l.physical);
    int32_t* counts = reinterpret_cast<int32_t*>(ws + l.counts);
    // The selection also zeroes the arrival counters: no separate memset in the sparse path.
    decode::launch_select(cache, p, indices, physical, counts,
                          reinterpret_cast<float*>(ws + l.scores),
                          a.splits > 1 ? a.arrivals : nullptr, a.row_blocks,
                          decode::prefetch_stride(cache.batch, cache.heads_kv, cache.max_pages,
                                                  cache.page_size, cache.head_dim, p.topk),
                          stream);
    a.indices = indices;
    a.physical = physical;
  } else if (a.splits > 1) {
    TA_CUDA_CHECK(cudaMemsetAsync(
        a.arrivals, 0, std::size_t(cache.batch) * cache.heads_kv * a.row_blocks * 4, stream));
  }
  const float scale = p.scale > 0.f ? p.scale : 1.f / std::sqrt(float(cache.head_dim));
  a.scale_log2 = scale * decode::kLog2e;
  decode::launch_split_kv(a, stream);
}

}  // namespace triageattention
