// Triage: GPU top-k key-block selection, the pattern that block_sparse_attention then runs.
//
// Rule (DESIGN.md, Triage). Keys are cut into blocks of block_size tokens and queries into blocks
// of q_block_size (the last of each may be short). For query block i and key block j
//   score(i, j) = dot(mean_q(i), mean_k(j)) * scale
// where the means average the block's rows. With share_gqa the pattern has one row per kv head,
// scored by the max over the query heads of its group; otherwise one row per query head, scored
// against its kv head. Eligible blocks: all of them, or when causal those whose first key is
// visible to the last query of block i (query t sees key j iff j <= t + Sk - Sq). The first
// sink_blocks blocks and the local_blocks blocks ending at the diagonal block (the one holding key
// position last_query + Sk - Sq, clamped to [0, Sk)) are forced: they rank above every score and
// count toward topk. A row keeps count = min(topk, #eligible) blocks: the highest ranked, ties
// (forced blocks among themselves included) to the lower index; NaN scores rank lowest.
//
// Exactness: the scores are computed in fp32 in a fixed operation order, so the CPU reference
// (reference::triage) gives the same selection index for index: each mean sums its rows in
// order and divides by the row count (both correctly rounded); the dot is a chain of fused
// multiply-adds over the head dimension in order starting from 0, then one multiply by scale;
// the group score is fmax over the heads.
//
// Outputs (int32, contiguous): kv_indices [B, Hs, nQ, max_blocks] with max_blocks =
// triage_max_blocks(...) = min(topk, ceil(Sk / block_size)), each row ascending and padded with
// -1 past its count; kv_counts [B, Hs, nQ]. Hs = heads_kv with share_gqa, else heads_q.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "triageattention/attention.h"
#include "triageattention/types.h"

namespace triageattention {

struct TriageParams {
  const void* q = nullptr;  // [B, Hq, Sq, D]
  const void* k = nullptr;  // [B, Hkv, Sk, D]
  AttentionStrides q_strides, k_strides;  // elements; the last dimension is contiguous

  int batch = 0, heads_q = 0, heads_kv = 0;
  int64_t seqlen_q = 0, seqlen_k = 0;
  int head_dim = 0;  // a multiple of 8, at most 256
  DType dtype = DType::kBFloat16;

  int block_size = 64;     // key block: 16, 32, 64 or 128
  int q_block_size = 128;  // query block: 64 or 128
  int topk = 16;           // >= 1
  bool causal = false;
  int sink_blocks = 1;     // >= 0
  int local_blocks = 1;    // >= 0
  bool share_gqa = true;
  float scale = 0.f;       // 0: 1 / sqrt(head_dim)

  int32_t* kv_indices = nullptr;  // [B, Hs, nQ, triage_max_blocks(*this)]
  int32_t* kv_counts = nullptr;   // [B, Hs, nQ]
};

// Last dimension of kv_indices: min(topk, ceil(seqlen_k / block_size)).
int triage_max_blocks(const TriageParams& p);

// Heads of the pattern: heads_kv with share_gqa, else heads_q.
inline int triage_pattern_heads(const TriageParams& p) {
  return p.share_gqa ? p.heads_kv : p.heads_q;
}

// Throws std::invalid_argument naming the offending field.
void check_triage_params(const TriageParams& p);

// Device workspace triage needs (the block means, and per-CTA score rows when they do not fit
// in shared memory); it depends on the shapes only, so it can be allocated once for a graph.
std::size_t triage_workspace_bytes(const TriageParams& p);

// Enqueues the selection on `stream`: no host synchronization, no allocation, capturable in a
// CUDA graph, deterministic. The workspace must be 256-byte aligned.
void triage(const TriageParams& p, void* workspace, std::size_t workspace_bytes,
            cudaStream_t stream);

}  // namespace triageattention
