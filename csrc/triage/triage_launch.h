// Internal interface between the triage host code (triage.cpp) and its two kernels:
// block_means.cu (pool rows into fp32 block means) and block_select.cu (score, then top-k).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "triageattention/attention.h"
#include "triageattention/types.h"

namespace triageattention::triage_detail {

// Mean of each block of rows_per_block rows of x [B, H, S, D] (the last block may be short),
// written as [B, H, nBlocks, D] or, transposed, [B, H, D, nBlocks] (fp32). One launch pools two
// tensors (the queries and the keys).
struct BlockMeansArgs {
  const void* x = nullptr;
  AttentionStrides strides;
  int batch = 0, heads = 0, head_dim = 0;
  int64_t seqlen = 0;
  int rows_per_block = 0;
  bool transpose = false;
  float* out = nullptr;
};
void launch_block_means(DType dtype, const BlockMeansArgs& first, const BlockMeansArgs& second,
                        cudaStream_t stream);

// Rows of one pattern (b, h_s) scored and selected by one CTA: the score rows live in shared
// memory when they fit, else in a per-CTA slice of the workspace.
struct SelectArgs {
  const float* q_means = nullptr;    // [B, Hq, nQ, D]
  const float* k_means_t = nullptr;  // [B, Hkv, D, nK]
  float* scratch = nullptr;          // [grid, rows_per_cta, nK] or nullptr (shared memory)
  int32_t* kv_indices = nullptr;     // [B, Hs, nQ, max_blocks]
  int32_t* kv_counts = nullptr;      // [B, Hs, nQ]
  int batch = 0, heads_q = 0, heads_kv = 0, pattern_heads = 0;
  int64_t seqlen_q = 0, seqlen_k = 0;
  int num_q_blocks = 0, num_k_blocks = 0, head_dim = 0;
  int block_size = 0, q_block_size = 0, topk = 0, max_blocks = 0;
  bool causal = false;
  int sink_blocks = 0, local_blocks = 0;
  float scale = 0.f;
  int rows_per_cta = 0;
  int grid = 0;
};

// How block_select splits the work of `patterns` (B * Hs) patterns of nQ rows over nK key blocks:
// rows per CTA, whether the score rows go to the workspace, and the grid (capped to the resident
// CTAs when they do, since each CTA owns a workspace slice).
struct SelectPlan {
  int rows_per_cta = 0;
  bool uses_scratch = false;
  int grid = 0;
};
SelectPlan plan_block_select(int64_t patterns, int num_q_blocks, int num_k_blocks, int sm_count);
void launch_block_select(const SelectArgs& a, cudaStream_t stream);

}  // namespace triageattention::triage_detail
