// Triage scoring and selection. One CTA takes rows_per_cta consecutive query blocks of one
// pattern (b, h_s): it scores them against every eligible key block (each thread owns key blocks
// j and keeps a register accumulator per (row, head) pair, so one load of a key-block mean feeds
// every pair), keeps the max over the group's heads, then each warp selects one row's top-k with
// warp_select_topk and writes it ascending, padded with -1.
#include <algorithm>

#include "common/cuda_check.h"
#include "common/radix_topk.cuh"
#include "triage/triage_launch.h"

namespace triageattention::triage_detail {
namespace {

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;
constexpr int kMaxRows = kWarps;       // one warp selects one row
constexpr int kMaxPairs = 16;          // (row, head) accumulators per thread, in registers
constexpr int kMaxHeadDim = 256;
constexpr int kScoreSmemBytes = 160 * 1024;

struct RowInfo {
  int eligible;  // key blocks [0, eligible) may be selected
  int diagonal;  // block holding the diagonal key position
};

__device__ __forceinline__ RowInfo row_info(const SelectArgs& a, int i) {
  const int64_t last_query = min(int64_t(i + 1) * a.q_block_size, a.seqlen_q) - 1;
  const int64_t last_key = last_query + a.seqlen_k - a.seqlen_q;
  RowInfo info;
  if (a.causal)
    info.eligible =
        last_key < 0 ? 0 : int(min(int64_t(a.num_k_blocks), last_key / a.block_size + 1));
  else
    info.eligible = a.num_k_blocks;
  const int64_t clamped = max(int64_t(0), min(last_key, a.seqlen_k - 1));
  info.diagonal = int(clamped / a.block_size);
  return info;
}

// Scores of `pairs` (row, head) pairs starting at pair `first` (pair p = row * group + head)
// against key blocks [0, n): acc over d as a chain of fmaf from 0 in order, then * scale; the
// head's score folds into the row's with fmaxf.
template <int kPairs>
__device__ void score_pairs(const SelectArgs& a, const float* k_means_t, const float* q_pairs,
                            int first, int pairs, int group, int n, float* scores,
                            int score_stride) {
  const int D = a.head_dim;
  for (int j = threadIdx.x; j < n; j += kThreads) {
    float acc[kPairs];
#pragma unroll
    for (int p = 0; p < kPairs; ++p) acc[p] = 0.f;
    const float* kcol = k_means_t + j;
#pragma unroll 4  // keeps 16 loads of key means in flight
    for (int d = 0; d < D; d += 4) {
      float kv[4];
#pragma unroll
      for (int e = 0; e < 4; ++e) kv[e] = __ldg(kcol + int64_t(d + e) * a.num_k_blocks);
#pragma unroll
      for (int p = 0; p < kPairs; ++p) {
        const float4 qv = *reinterpret_cast<const float4*>(q_pairs + p * kMaxHeadDim + d);
        acc[p] = __fmaf_rn(qv.x, kv[0], acc[p]);
        acc[p] = __fmaf_rn(qv.y, kv[1], acc[p]);
        acc[p] = __fmaf_rn(qv.z, kv[2], acc[p]);
        acc[p] = __fmaf_rn(qv.w, kv[3], acc[p]);
      }
    }
#pragma unroll
    for (int p = 0; p < kPairs; ++p) {
      if (p < pairs) {
        const int pair = first + p;
        const int row = pair / group, head = pair % group;
        const float s = __fmul_rn(acc[p], a.scale);
        float& out = scores[row * score_stride + j];
        if (head == 0)
          out = s;
        else
          out = fmaxf(out, s);
      }
    }
  }
}

__global__ void __launch_bounds__(kThreads, 2) block_select_kernel(SelectArgs a) {
  extern __shared__ __align__(16) unsigned char smem[];
  float* q_pairs = reinterpret_cast<float*>(smem);                    // [kMaxPairs][kMaxHeadDim]
  uint32_t* histograms = reinterpret_cast<uint32_t*>(q_pairs + kMaxPairs * kMaxHeadDim);
  float* smem_scores = reinterpret_cast<float*>(histograms + kWarps * 256);

  const int R = a.rows_per_cta;
  const int groups_per_pattern = (a.num_q_blocks + R - 1) / R;
  const int64_t num_groups = int64_t(a.batch) * a.pattern_heads * groups_per_pattern;
  // Shared (one pattern per kv head): the group's q_per_kv heads fold into each row by max.
  const int q_per_kv = a.heads_q / a.heads_kv;
  const bool shared = a.pattern_heads == a.heads_kv;
  const int group = shared ? q_per_kv : 1;
  const int D = a.head_dim;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  float* scores = a.scratch ? a.scratch + int64_t(blockIdx.x) * R * a.num_k_blocks : smem_scores;
  const int score_stride = a.num_k_blocks;

  for (int64_t g = blockIdx.x; g < num_groups; g += gridDim.x) {
    const int i0 = int(g % groups_per_pattern) * R;
    const int64_t pattern = g / groups_per_pattern;  // b * Hs + h_s
    const int b = int(pattern / a.pattern_heads), hs = int(pattern % a.pattern_heads);
    const int rows = min(R, a.num_q_blocks - i0);
    const int kv_head = shared ? hs : hs / q_per_kv;
    const int first_head = shared ? hs * group : hs;
    const float* k_means_t =
        a.k_means_t + (int64_t(b) * a.heads_kv + kv_head) * D * a.num_k_blocks;
    // Eligible blocks grow with the row when causal, so the last row bounds them all.
    const int n = row_info(a, i0 + rows - 1).eligible;

    const int pairs = rows * group;
    for (int first = 0; first < pairs; first += kMaxPairs) {
      const int count = min(kMaxPairs, pairs - first);
      __syncthreads();  // q_pairs and (on the first chunk) scores are free
      for (int idx = threadIdx.x; idx < kMaxPairs * D; idx += kThreads) {
        const int p = idx / D, d = idx % D;
        float v = 0.f;
        if (p < count) {
          const int pair = first + p;
          const int q_head = first_head + pair % group;
          const int64_t q_row =
              (int64_t(b) * a.heads_q + q_head) * a.num_q_blocks + i0 + pair / group;
          v = a.q_means[q_row * D + d];
        }
        q_pairs[p * kMaxHeadDim + d] = v;
      }
      __syncthreads();
      if (count <= 4)
        score_pairs<4>(a, k_means_t, q_pairs, first, count, group, n, scores, score_stride);
      else if (count <= 8)
        score_pairs<8>(a, k_means_t, q_pairs, first, count, group, n, scores, score_stride);
      else
        score_pairs<16>(a, k_means_t, q_pairs, first, count, group, n, scores, score_stride);
    }
    __syncthreads();  // scores complete (in the global scratch too: one CTA wrote them)

    for (int r = warp; r < rows; r += kWarps) {
      const int i = i0 + r;
      const RowInfo info = row_info(a, i);
      const float* row_scores = scores + r * score_stride;
      const int sink = a.sink_blocks, local_first = info.diagonal - a.local_blocks + 1;
      auto key_of = [&](int j) {
        if (j < sink || (j >= local_first && j <= info.diagonal)) return detail::kForcedKey;
        return detail::score_key(row_scores[j]);
      };
      const int64_t row = (pattern * a.num_q_blocks + i);
      int32_t* out = a.kv_indices + row * a.max_blocks;
      const int count = detail::warp_select_topk(key_of, info.eligible, a.topk,
                                                 histograms + warp * 256,
                                                 [&](int pos, int j) { out[pos] = j; });
      for (int pos = count + lane; pos < a.max_blocks; pos += 32) out[pos] = -1;
      if (lane == 0) a.kv_counts[row] = count;
    }
  }
}

int fixed_smem_bytes() { return (kMaxPairs * kMaxHeadDim + kWarps * 256) * 4; }

}  // namespace

SelectPlan plan_block_select(int64_t patterns, int num_q_blocks, int num_k_blocks, int sm_count) {
  SelectPlan plan;
  const int64_t row_bytes = int64_t(std::max(num_k_blocks, 1)) * 4;
  plan.rows_per_cta = int(std::clamp<int64_t>(kScoreSmemBytes / row_bytes, 1, kMaxRows));
  plan.uses_scratch = row_bytes > kScoreSmemBytes;
  if (plan.uses_scratch) plan.rows_per_cta = kMaxRows;
  const int64_t groups =
      patterns * ((num_q_blocks + plan.rows_per_cta - 1) / plan.rows_per_cta);
  const int64_t cap = plan.uses_scratch ? int64_t(sm_count) * 2 : int64_t(1) << 30;
  plan.grid = int(std::max<int64_t>(1, std::min(groups, cap)));
  return plan;
}

void launch_block_select(const SelectArgs& a, cudaStream_t stream) {
  const int smem = fixed_smem_bytes() +
                   (a.scratch ? 0 : a.rows_per_cta * std::max(a.num_k_blocks, 1) * 4);
  TA_CUDA_CHECK(cudaFuncSetAttribute(block_select_kernel,
                                     cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
  block_select_kernel<<<a.grid, kThreads, smem, stream>>>(a);
  TA_CUDA_CHECK(cudaGetLastError());
}

}  // namespace triageattention::triage_detail
