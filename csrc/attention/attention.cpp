// Host entry points of block-sparse attention: argument checks and dispatch to the built kernels.
#include <cstdint>

#include "attention/attention_launch.h"
#include "common/attention_checks.h"
#include "common/cuda_check.h"
#include "triageattention/attention.h"

namespace triageattention {
namespace attention {
// Writes out = 0 and lse = -inf for every query row (no keys at all); attention_empty.cu.
void launch_no_keys(const BlockSparseAttentionParams& p, cudaStream_t stream);
}  // namespace attention

namespace {

using detail::aligned;
using detail::check_attention_tensor;
using detail::throw_invalid;
using Launcher = void (*)(const BlockSparseAttentionParams&, cudaStream_t);

Launcher find_launcher(DType dtype, int head_dim, int q_tile) {
#define TA_ATTENTION_INSTANCE(DT, HDIM, QTILE)                          \
  if (dtype == DType::DT && head_dim == HDIM && q_tile == QTILE)        \
    return &attention::launch_attention_instance<DType::DT, HDIM, QTILE>;
#include "attention_instances.inc"
#undef TA_ATTENTION_INSTANCE
  return nullptr;
}

}  // namespace

void check_block_sparse_attention_params(const BlockSparseAttentionParams& p) {
  constexpr const char* fn = "block_sparse_attention: ";
  detail::check_attention_shape(fn, p.dtype, p.batch, p.heads_q, p.heads_kv, p.seqlen_q,
                                p.seqlen_k, p.block_size, p.q_block_size, p.scale);
  if (p.head_dim != 64 && p.head_dim != 128)
    throw_invalid(fn, "head_dim must be 64 or 128, got ", p.head_dim);
  if (p.kv_indices != nullptr) {
    if (p.kv_counts == nullptr) throw_invalid(fn, "kv_counts must be non-null with kv_indices");
    if (p.pattern_heads != p.heads_kv && p.pattern_heads != p.heads_q)
      throw_invalid(fn, "pattern heads must equal heads_kv (", p.heads_kv, ") or heads_q (",
                    p.heads_q, "), got ", p.pattern_heads);
    if (p.max_blocks < 0) throw_invalid(fn, "max_blocks must be >= 0, got ", p.max_blocks);
    if (!aligned(p.kv_indices, 4) || !aligned(p.kv_counts, 4))
      throw_invalid(fn, "kv_indices and kv_counts must be 4-byte aligned int32 arrays");
  }
  if (p.batch > 0 && p.seqlen_q > 0) {
    // q, k, v are read by TMA (16-byte strides and data); out is written in 4-byte pairs.
    check_attention_tensor(fn, "q", p.q, p.q_strides, p.batch, p.heads_q, p.seqlen_q, 16, 8);
    check_attention_tensor(fn, "out", p.out, p.out_strides, p.batch, p.heads_q, p.seqlen_q, 4, 2);
    if (p.seqlen_k > 0) {
      check_attention_tensor(fn, "k", p.k, p.k_strides, p.batch, p.heads_kv, p.seqlen_k, 16, 8);
      check_attention_tensor(fn, "v", p.v, p.v_strides, p.batch, p.heads_kv, p.seqlen_k, 16, 8);
    }
  }
  if (p.lse != nullptr && !aligned(p.lse, 4)) throw_invalid(fn, "lse must be 4-byte aligned");
  if (!find_launcher(p.dtype, p.head_dim, p.q_block_size))
    throw_invalid(fn, "this build has no kernel for dtype ", dtype_name(p.dtype), ", head_dim ",
                  p.head_dim, ", q_block_size ", p.q_block_size,
                  " (configure with the default TRIAGEATTENTION_DTYPES/HEAD_DIMS)");
}

bool attention_is_built(DType dtype, int head_dim, int q_block_size) {
  return find_launcher(dtype, head_dim, q_block_size) != nullptr;
}

void block_sparse_attention(const BlockSparseAttentionParams& p, cudaStream_t stream) {
  check_block_sparse_attention_params(p);
  if (p.batch == 0 || p.seqlen_q == 0) return;
  if (p.seqlen_k == 0) {
    attention::launch_no_keys(p, stream);
    return;
  }
  find_launcher(p.dtype, p.head_dim, p.q_block_size)(p, stream);
}

}  // namespace triageattention
