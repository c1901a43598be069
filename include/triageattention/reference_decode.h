// CPU reference of the decode page selection (DESIGN.md, KV-cache decode), exact: it repeats the
// GPU's fp32 operation order, so scores match bit for bit and selections index for index.
// Decode numerics are checked against reference::attention (reference.h) with an explicit mask.
#pragma once

#include <cstdint>

namespace triageattention::reference {

struct DecodeSelectionShape {
  int batch = 0, heads_q = 0, heads_kv = 0;
  int seqlen_q = 0;   // new query tokens per sequence
  int head_dim = 0;
  int page_size = 0;
  int max_pages = 0;  // page_table's second dimension
  int64_t num_pages = 0;
};

// q [B, Hq, Sq, D] and k_min / k_max [num_pages, Hkv, D] (the values of the 16-bit inputs and
// summaries, as float), page_table [B, max_pages], seqlens [B], all contiguous. Lengths are
// clamped to [0, max_pages * page_size]; page p < ceil(len / page_size) holds valid tokens.
//   score(b, h, p) = max over rows (query head of h's group, new token) of
//                    sum over d in order of max(q_d * k_min_d, q_d * k_max_d)   (fp32, from 0)
// with zero summaries for an unmapped page (physical index outside [0, num_pages)). Candidates:
// the mapped pages holding valid tokens; the first sink_pages and the last are forced. Keeps
// min(topk, candidates) pages: forced first, then by score (NaN lowest, -0 == +0), ties to the
// lower index. Outputs: scores [B, Hkv, max_pages] (pages without valid tokens untouched),
// indices [B, Hkv, max_pages] ascending, padded with -1, counts [B, Hkv].
void select_decode_pages(const DecodeSelectionShape& s, const float* q, const float* k_min,
                         const float* k_max, const int32_t* page_table, const int32_t* seqlens,
                         int topk, int sink_pages, float* scores, int32_t* indices,
                         int32_t* counts);

}  // namespace triageattention::reference
