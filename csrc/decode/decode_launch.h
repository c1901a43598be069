// Internal interface between the decode host code (decode.cpp) and its kernels: the workspace
// layout, the split heuristic and the launchers. Arguments are already checked.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "triageattention/decode.h"

namespace triageattention::decode {

// Split-KV decomposition: each (sequence, kv head, row block) is cut into `splits` CTAs over its
// visited tokens, up to a target CTA count, but at least kMinSplitTokens per CTA so that a short
// (or sparse) visit does not pay for many CTA start-ups and partial results. Measured on an H100
// (decode steps 7 and 18-19 of docs/OPTIMIZATION_LOG.md): the sparse path streams fastest at
// about two CTAs per SM (kTargetCtasSparse = 256; sparse B8/32k 4 splits of 1024 tokens ran
// 3-4% faster than 2 of 2048), dense decode at one per SM (kTargetCtasDense = 128; B1/128k
// 93.5% -> 97.8% of cuDNN, B8/32k 98.2% -> 99.3%), and splits of 512 tokens lost to splits of
// 1024 (sparse B1/128k 5% slower). Shapes alone decide it, never the device, so results are
// bitwise the same on any GPU.
constexpr int kTargetCtasSparse = 256;
constexpr int kTargetCtasDense = 128;
constexpr int kMinSplitTokens = 1024;
// The workspace's partials and the split lse area are sized with the sparse count.
static_assert(kTargetCtasDense <= kTargetCtasSparse, "dense must not split more than sparse");
constexpr int kMaxPageSize = 128;
constexpr int kRowsPerCta = 16;  // query rows (group heads x new tokens) of one mma row tile
constexpr float kLog2e = 1.4426950408889634f;

inline int ceil_div(int64_t a, int64_t b) { return int((a + b - 1) / b); }

// Early L2 prefetch of likely pages (decode steps 34-35: sparse B8/32k 0.0717 -> 0.0673 ms on an
// H100). From the selection's scores to the decode's first copies (rank 0's select, the kernels'
// boundary) DRAM idles for ~8 us at sparse B8/32k. Meanwhile every selection CTA but rank 0
// pulls into L2 the K and V of the best page of kPrefetchSpan-page stretches of the last tile it
// scored (at B8/32k its only one): every stretch j with j % stride == 0, the stride keeping the
// bytes under kPrefetchBudget (under two thirds of an H100's 50 MB L2; the decode reads its own
// stream evict-first, so these lines stay until read). The best page of a stretch is a winner
// whenever the stretch holds one, likely at two or more expected winners per stretch (else
// nothing is prefetched); a losing page costs only idle DRAM time.
constexpr int kPrefetchSpan = 32;
constexpr int64_t kPrefetchBudget = int64_t(32) << 20;

// The stride over each (sequence, kv head)'s stretches; 0: no prefetch.
inline int prefetch_stride(int batch, int heads_kv, int max_pages, int page_size, int head_dim,
                           int topk) {
  const int spans = ceil_div(max_pages, kPrefetchSpan);
  const int64_t page_bytes = int64_t(2) * page_size * head_dim * 2;  // K and V, 16-bit
  const int64_t pages = kPrefetchBudget / (int64_t(batch) * heads_kv * page_bytes);
  if (batch < 1 || topk < 2 * spans || pages < 1) return 0;
  return ceil_div(spans, pages);
}

inline int row_blocks(int heads_q, int heads_kv, int seqlen_q) {
  return ceil_div(int64_t(heads_q / heads_kv) * seqlen_q, kRowsPerCta);
}

// Splits per (sequence, kv head, row block) when at most `tokens` tokens are visited; monotone in
// tokens, and never more when dense, so the workspace sized with the sparse count at
// max_pages * kMaxPageSize tokens covers every topk and page size.
inline int num_splits(int batch, int heads_kv, int blocks, int64_t tokens, bool dense) {
  const int target = dense ? kTargetCtasDense : kTargetCtasSparse;
  const int64_t units = int64_t(batch) * heads_kv * blocks;
  const int want = units >= target || units == 0 ? 1 : int(target / units);
  const int64_t most = tokens < 1 ? 1 : (tokens + kMinSplitTokens - 1) / kMinSplitTokens;
  return want < most ? want : int(most);
}

// Workspace sections, each 256-byte aligned: selected pages [B, Hkv, max_pages] int32, their
// physical pages (same shape; the decode streams them with no page-table lookup), their
// counts [B, Hkv] int32, page scores [B, Hkv, max_pages] fp32, the splits' arrival counters
// [B, Hkv, row blocks] int32 (zeroed before each decode launch), then the partial results
// of the splits: lse [B, Hkv, S, R] and out [B, Hkv, S, R, D] fp32 (R = group * seqlen_q rows).
struct WorkspaceLayout {
  std::size_t indices = 0, physical = 0, counts = 0, scores = 0, arrivals = 0, partial_lse = 0,
              partial_out = 0, total = 0;
};

WorkspaceLayout workspace_layout(int batch, int heads_kv, int heads_q, int seqlen_q,
                                 int max_pages, int head_dim);

struct DecodeArgs {
  PagedKVCacheView cache;
  SparseDecodeParams p;
  const int32_t* indices = nullptr;   // nullptr: dense (every page)
  const int32_t* physical = nullptr;  // the selected pages' physical pages (with indices)
  int32_t* arrivals = nullptr;  // zero on entry; used when splits > 1
  float* partial_lse = nullptr;
  float* partial_out = nullptr;
  int group = 0;       // heads_q / heads_kv
  int rows = 0;        // group * seqlen_q
  int row_blocks = 0;
  int splits = 0;
  float scale_log2 = 0.f;
};

// paged_append.cu
void launch_append(const PagedKVCacheView& cache, const PagedAppendParams& p,
                   cudaStream_t stream);
void launch_refresh_summaries(const PagedKVCacheView& cache, cudaStream_t stream);
// page_select.cu
// `physical` (nullptr: not written) receives the physical page of each selected entry;
// `arrivals` (nullptr: none) are the decode's counters, [B, Hkv, arrival_blocks], zeroed here.
// `prefetch_stride` (0: none) as prefetch_stride() returns it.
void launch_select(const PagedKVCacheView& cache, const SparseDecodeParams& p, int32_t* indices,
                   int32_t* physical, int32_t* counts, float* scores, int32_t* arrivals,
                   int arrival_blocks, int prefetch_stride, cudaStream_t stream);
// split_kv_decode.cu
void launch_split_kv(const DecodeArgs& a, cudaStream_t stream);

}  // namespace triageattention::decode
