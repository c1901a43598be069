// Host entry points of triage: argument checks, the workspace plan and the two launches.
#include "triageattention/triage.h"

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "common/attention_checks.h"
#include "common/cuda_check.h"
#include "common/device_info.h"
#include "triage/triage_launch.h"

namespace triageattention {
namespace {

using detail::aligned;
using detail::throw_invalid;
constexpr const char* kFn = "triage: ";
constexpr std::size_t kAlign = 256;

std::size_t align_up(std::size_t bytes) { return (bytes + kAlign - 1) / kAlign * kAlign; }

// Workspace layout: q means [B, Hq, nQ, D], key means [B, Hkv, D, nK], then the score scratch.
struct WorkspacePlan {
  std::size_t q_means = 0, k_means = 0, scratch = 0;
  triage_detail::SelectPlan select;
  std::size_t total() const { return q_means + k_means + scratch; }
};

WorkspacePlan plan_workspace(const TriageParams& p) {
  const int64_t nq = num_query_blocks(p.seqlen_q, p.q_block_size);
  const int64_t nk = num_key_blocks(p.seqlen_k, p.block_size);
  WorkspacePlan w;
  w.q_means = align_up(std::size_t(p.batch) * p.heads_q * nq * p.head_dim * 4);
  w.k_means = align_up(std::size_t(p.batch) * p.heads_kv * nk * p.head_dim * 4);
  w.select = triage_detail::plan_block_select(int64_t(p.batch) * triage_pattern_heads(p), int(nq),
                                              int(nk), detail::current_device_sm_count());
  if (w.select.uses_scratch)
    w.scratch = align_up(std::size_t(w.select.grid) * w.select.rows_per_cta * nk * 4);
  return w;
}

void check_input(const char* name, const void* ptr, const AttentionStrides& s, int64_t batch,
                 int64_t heads, int64_t seqlen) {
  if (batch == 0 || heads == 0 || seqlen == 0) return;
  detail::check_attention_tensor(kFn, name, ptr, s, batch, heads, seqlen, 16, 8);
}

// Everything but the pointers, which the workspace query does not need.
void check_shapes(const TriageParams& p) {
  detail::check_attention_shape(kFn, p.dtype, p.batch, p.heads_q, p.heads_kv, p.seqlen_q,
                                p.seqlen_k, p.block_size, p.q_block_size, p.scale);
  if (p.head_dim < 8 || p.head_dim > 256 || p.head_dim % 8 != 0)
    throw_invalid(kFn, "head_dim must be a multiple of 8 in [8, 256], got ", p.head_dim);
  if (p.topk < 1) throw_invalid(kFn, "topk must be >= 1, got ", p.topk);
  if (p.sink_blocks < 0 || p.local_blocks < 0)
    throw_invalid(kFn, "sink_blocks and local_blocks must be >= 0, got ", p.sink_blocks, ", ",
                  p.local_blocks);
}

}  // namespace

int triage_max_blocks(const TriageParams& p) {
  return int(std::min<int64_t>(p.topk, num_key_blocks(p.seqlen_k, p.block_size)));
}

void check_triage_params(const TriageParams& p) {
  check_shapes(p);
  check_input("q", p.q, p.q_strides, p.batch, p.heads_q, p.seqlen_q);
  check_input("k", p.k, p.k_strides, p.batch, p.heads_kv, p.seqlen_k);
  if (p.batch > 0 && p.seqlen_q > 0) {
    if (p.kv_counts == nullptr || !aligned(p.kv_counts, 4))
      throw_invalid(kFn, "kv_counts must be a non-null, 4-byte aligned int32 array");
    if (triage_max_blocks(p) > 0 && (p.kv_indices == nullptr || !aligned(p.kv_indices, 4)))
      throw_invalid(kFn, "kv_indices must be a non-null, 4-byte aligned int32 array");
  }
}

std::size_t triage_workspace_bytes(const TriageParams& p) {
  check_shapes(p);
  return plan_workspace(p).total();
}

void triage(const TriageParams& p, void* workspace, std::size_t workspace_bytes,
            cudaStream_t stream) {
  check_triage_params(p);
  if (p.batch == 0 || p.seqlen_q == 0) return;
  const WorkspacePlan w = plan_workspace(p);
  if (workspace_bytes < w.total())
    throw_invalid(kFn, "workspace must hold triage_workspace_bytes() = ", w.total(),
                  " bytes, got ", workspace_bytes);
  if (w.total() > 0 && (workspace == nullptr || !aligned(workspace, kAlign)))
    throw_invalid(kFn, "workspace must be a non-null, ", kAlign, "-byte aligned pointer");
  auto* base = static_cast<unsigned char*>(workspace);
  float* q_means = reinterpret_cast<float*>(base);
  float* k_means = reinterpret_cast<float*>(base + w.q_means);

  triage_detail::BlockMeansArgs qa;
  qa.x = p.q;
  qa.strides = p.q_strides;
  qa.batch = p.batch;
  qa.heads = p.heads_q;
  qa.head_dim = p.head_dim;
  qa.seqlen = p.seqlen_q;
  qa.rows_per_block = p.q_block_size;
  qa.out = q_means;

  triage_detail::BlockMeansArgs ka = qa;
  ka.x = p.k;
  ka.strides = p.k_strides;
  ka.heads = p.heads_kv;
  ka.seqlen = p.seqlen_k;
  ka.rows_per_block = p.block_size;
  ka.transpose = true;
  ka.out = k_means;
  triage_detail::launch_block_means(p.dtype, qa, ka, stream);

  triage_detail::SelectArgs s;
  s.q_means = q_means;
  s.k_means_t = k_means;
  s.scratch = w.select.uses_scratch ? reinterpret_cast<float*>(base + w.q_means + w.k_means)
                                    : nullptr;
  s.kv_indices = p.kv_indices;
  s.kv_counts = p.kv_counts;
  s.batch = p.batch;
  s.heads_q = p.heads_q;
  s.heads_kv = p.heads_kv;
  s.pattern_heads = triage_pattern_heads(p);
  s.seqlen_q = p.seqlen_q;
  s.seqlen_k = p.seqlen_k;
  s.num_q_blocks = int(num_query_blocks(p.seqlen_q, p.q_block_size));
  s.num_k_blocks = int(num_key_blocks(p.seqlen_k, p.block_size));
  s.head_dim = p.head_dim;
  s.block_size = p.block_size;
  s.q_block_size = p.q_block_size;
  s.topk = p.topk;
  s.max_blocks = triage_max_blocks(p);
  s.causal = p.causal;
  s.sink_blocks = p.sink_blocks;
  s.local_blocks = p.local_blocks;
  s.scale = p.scale > 0.f ? p.scale : 1.f / std::sqrt(float(p.head_dim));
  s.rows_per_cta = w.select.rows_per_cta;
  s.grid = w.select.grid;
  triage_detail::launch_block_select(s, stream);
}

}  // namespace triageattention
