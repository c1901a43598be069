// Block-sparse attention forward (prefill) on Hopper: exact softmax attention of each query block
// over the key blocks its pattern row lists.
//
// Layouts (SDPA / FlexAttention order): q [B, Hq, Sq, D], k and v [B, Hkv, Sk, D], out like q,
// each with any strides whose last dimension is contiguous (element strides given below);
// lse [B, Hq, Sq] fp32 contiguous. Query head h reads kv head h / (Hq / Hkv).
// Causal: query i sees key j iff j <= i + (Sk - Sq) (bottom-right aligned, as FlashAttention 2+).
// A query row that sees no key gets out = 0 and lse = -inf.
//
// Pattern: kv_indices [B, Hs, nQ, max_blocks] and kv_counts [B, Hs, nQ], int32, contiguous, with
// nQ = ceil(Sq / q_block_size) and Hs = Hkv (one selection shared by the GQA group) or Hq. Row
// (b, h, i) lists ascending the key blocks (of block_size tokens) that query block i visits; only
// the first kv_counts entries count (clamped to [0, max_blocks]). An index outside
// [0, ceil(Sk / block_size)) is never dereferenced: that entry contributes nothing. Causal masking
// is applied to every visited block that crosses the diagonal, whatever the indices say.
// kv_indices == nullptr selects dense mode: every block (up to the diagonal when causal).
#pragma once

#include <cuda_runtime_api.h>

#include "triageattention/types.h"

namespace triageattention {

struct AttentionStrides {
  int64_t batch = 0, head = 0, seq = 0;  // in elements; the last dimension is contiguous
};

struct BlockSparseAttentionParams {
  const void* q = nullptr;
  const void* k = nullptr;
  const void* v = nullptr;
  void* out = nullptr;
  float* lse = nullptr;  // optional
  AttentionStrides q_strides, k_strides, v_strides, out_strides;

  int batch = 0, heads_q = 0, heads_kv = 0;
  int64_t seqlen_q = 0, seqlen_k = 0;
  int head_dim = 0;  // 64 or 128
  DType dtype = DType::kBFloat16;

  const int32_t* kv_indices = nullptr;  // nullptr: dense
  const int32_t* kv_counts = nullptr;
  int pattern_heads = 0;  // Hs: heads_kv or heads_q (ignored in dense mode)
  int max_blocks = 0;     // last dimension of kv_indices
  int block_size = 128;   // key block: 16, 32, 64 or 128
  int q_block_size = 128; // query block: 128 or 64

  bool causal = false;
  float scale = 0.f;  // 0: 1 / sqrt(head_dim)
};

// Throws std::invalid_argument naming the offending field.
void check_block_sparse_attention_params(const BlockSparseAttentionParams& p);

// Enqueues the forward pass on `stream`: no host synchronization, no allocation, capturable in a
// CUDA graph, bitwise deterministic.
void block_sparse_attention(const BlockSparseAttentionParams& p, cudaStream_t stream);

// True when this build contains the kernel for (dtype, head dim, q_block_size); a one-config
// build (TRIAGEATTENTION_DTYPES / HEAD_DIMS / Q_TILES) omits the others.
bool attention_is_built(DType dtype, int head_dim, int q_block_size);

// Number of query blocks of a pattern: ceil(seqlen_q / q_block_size).
inline int64_t num_query_blocks(int64_t seqlen_q, int q_block_size) {
  return (seqlen_q + q_block_size - 1) / q_block_size;
}

// Number of key blocks: ceil(seqlen_k / block_size).
inline int64_t num_key_blocks(int64_t seqlen_k, int block_size) {
  return (seqlen_k + block_size - 1) / block_size;
}

}  // namespace triageattention
