// KV-cache decode on Hopper: a paged KV cache with per-page key summaries, the append op that
// fills it, Quest-style top-k page selection and split-KV flash-decoding over the chosen pages.
//
// Paged cache (all arrays contiguous, on one device):
//   k_cache, v_cache [num_pages, heads_kv, page_size, head_dim]  fp16 or bf16
//   k_min, k_max     [num_pages, heads_kv, head_dim]             cache dtype, element-wise min /
//                                                                max of the page's valid keys
//                                                                (exact: min / max of 16-bit keys)
//   page_table       [batch, max_pages] int32: logical page p of sequence b lives in physical
//                    page page_table[b, p]; pages of any sequence may sit anywhere in the pool
//   seqlens          [batch] int32, on the device: tokens held by each sequence
// Token i of sequence b is row i % page_size of physical page page_table[b, i / page_size].
// Device-side values are never trusted: lengths are clamped to [0, max_pages * page_size], and a
// physical index outside [0, num_pages) is never dereferenced (its tokens are skipped, not read
// or written).
//
// Every op enqueues on `stream`: no host synchronization, no allocation, capturable in a CUDA
// graph, bitwise deterministic. Bad arguments throw std::invalid_argument naming the argument.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "triageattention/attention.h"
#include "triageattention/types.h"

namespace triageattention {

struct PagedKVCacheView {
  void* k_cache = nullptr;
  void* v_cache = nullptr;
  void* k_min = nullptr;  // the cache dtype, like k_cache
  void* k_max = nullptr;
  const int32_t* page_table = nullptr;
  int32_t* seqlens = nullptr;  // advanced by paged_kv_append, read by sparse_decode

  int batch = 0;
  int heads_kv = 0;
  int head_dim = 0;        // 64 or 128
  int page_size = 0;       // 16, 32, 64 or 128
  int max_pages = 0;       // page_table's second dimension (pages per sequence)
  int64_t num_pages = 0;   // pages in the pool
  DType dtype = DType::kBFloat16;
};

// New tokens k_new, v_new [batch, heads_kv, new_tokens, head_dim] (cache dtype, any strides with
// a contiguous last dimension, other strides multiples of 8 elements, 16-byte aligned data).
struct PagedAppendParams {
  const void* k_new = nullptr;
  const void* v_new = nullptr;
  AttentionStrides k_strides, v_strides;
  int64_t new_tokens = 0;               // T
  const int32_t* new_lens = nullptr;    // optional [batch] on the device: sequence b appends
                                        // clamp(new_lens[b], 0, T) tokens; nullptr: T each
};

// Writes the new tokens of sequence b at positions seqlens[b] .. seqlens[b] + n - 1 (across page
// boundaries through page_table), recomputes k_min / k_max of every touched (page, kv head) over
// the page's valid tokens, then sets seqlens[b] += n. Tokens that would land past
// max_pages * page_size are dropped (seqlens stops there).
void check_paged_kv_append(const PagedKVCacheView& cache, const PagedAppendParams& p);
void paged_kv_append(const PagedKVCacheView& cache, const PagedAppendParams& p,
                     cudaStream_t stream);

// Recomputes k_min / k_max of every page that holds a valid token (for a cache whose K/V were
// written by someone else). Does not change k_cache, v_cache or seqlens.
void paged_kv_refresh_summaries(const PagedKVCacheView& cache, cudaStream_t stream);

// Decode of seqlen_q new query tokens per sequence whose K/V were already appended:
// q [batch, heads_q, seqlen_q, head_dim], token t of sequence b sits at position
// seqlens[b] - seqlen_q + t and sees keys j <= that position (causal among the new tokens).
// Query head h reads kv head h / (heads_q / heads_kv).
//
// Page selection per (sequence, kv head): among the pages holding valid tokens (and a valid
// physical index), score(p) = max over the group's query heads and the seqlen_q tokens of
// sum_d max(q_d * k_min[p, d], q_d * k_max[p, d]) (the Quest upper bound, evaluated as
// q_d * k_max for q_d > 0 and q_d * k_min otherwise; fp32 products of the 16-bit values, which
// are exact, summed in order of d); the first sink_pages pages and the last
// page are always kept and count toward topk; the min(topk, eligible) best pages are visited,
// ties to the lower page index (when topk is smaller than the forced pages, the lower-indexed
// forced pages win). topk >= max_pages selects dense decode (every page, no selection step).
//
// out like q (any strides, contiguous last dimension, multiples of 2 elements, 4-byte aligned);
// lse [batch, heads_q, seqlen_q] fp32 contiguous, natural log, optional. Rows that see no key get
// out = 0, lse = -inf.
struct SparseDecodeParams {
  const void* q = nullptr;
  AttentionStrides q_strides;
  void* out = nullptr;
  AttentionStrides out_strides;
  float* lse = nullptr;

  int heads_q = 0;
  int seqlen_q = 1;   // 1 .. 8
  int topk = 1;       // >= 1
  int sink_pages = 1; // >= 0
  float scale = 0.f;  // 0: 1 / sqrt(head_dim)

  void* workspace = nullptr;  // sparse_decode_workspace_bytes(...) bytes, 256-byte aligned
  std::size_t workspace_bytes = 0;
};

constexpr int kMaxDecodeQueryTokens = 8;

// Workspace bytes sparse_decode needs; depends only on the shapes, so one buffer serves every
// step of a decode loop (and a captured CUDA graph). A workspace serves one call at a time:
// calls that may run concurrently (other streams) need their own.
std::size_t sparse_decode_workspace_bytes(int batch, int heads_kv, int heads_q, int seqlen_q,
                                          int max_pages, int head_dim);

void check_sparse_decode_params(const PagedKVCacheView& cache, const SparseDecodeParams& p);
void sparse_decode(const PagedKVCacheView& cache, const SparseDecodeParams& p,
                   cudaStream_t stream);

// The selection step alone (what sparse_decode visits when topk < max_pages): indices
// [batch, heads_kv, max_pages] int32 lists the selected logical pages ascending, counts
// [batch, heads_kv] how many; scores [batch, heads_kv, max_pages] fp32 receives the page scores
// (entries of pages without valid tokens are left untouched). Uses p's q, strides, heads_q,
// seqlen_q, topk and sink_pages.
void select_decode_pages(const PagedKVCacheView& cache, const SparseDecodeParams& p,
                         int32_t* indices, int32_t* counts, float* scores, cudaStream_t stream);

}  // namespace triageattention
