// Host entry points of block-sparse attention: argument checks and dispatch to the built kernels.
#include <cmath>
#include <cstdint>
#include <limits>

#include "attention/attention_launch.h"
#include "common/cuda_check.h"
#include "triageattention/attention.h"

namespace triageattention {
namespace attention {
// Writes out = 0 and lse = -inf for every query row (no keys at all); attention_empty.cu.
void launch_no_keys(const BlockSparseAttentionParams& p, cudaStream_t stream);
}  // namespace attention

namespace {

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

bool aligned(const void* ptr, std::size_t bytes) {
  return reinterpret_cast<std::uintptr_t>(ptr) % bytes == 0;
}

// Strides of dimensions longer than 1 must be positive multiples of stride_multiple (TMA needs
// 16-byte strides and cannot broadcast); a dimension of extent 1 may have any stride.
void check_tensor(const char* name, const void* ptr, const AttentionStrides& s, int64_t batch,
                  int64_t heads, int64_t seqlen, std::size_t align_bytes, int64_t stride_multiple) {
  constexpr const char* fn = "block_sparse_attention: ";
  if (ptr == nullptr) throw_invalid(fn, name, " must be non-null");
  if (!aligned(ptr, align_bytes)) throw_invalid(fn, name, " must be ", align_bytes, "-byte aligned");
  const int64_t extents[3] = {batch, heads, seqlen};
  const int64_t strides[3] = {s.batch, s.head, s.seq};
  for (int i = 0; i < 3; ++i) {
    if (extents[i] > 1 && (strides[i] <= 0 || strides[i] % stride_multiple != 0))
      throw_invalid(fn, name, " strides must be positive multiples of ", stride_multiple,
                    " elements (", stride_multiple * 2, " bytes), got batch/head/seq strides ",
                    s.batch, "/", s.head, "/", s.seq);
  }
}

}  // namespace

void check_block_sparse_attention_params(const BlockSparseAttentionParams& p) {
  constexpr const char* fn = "block_sparse_attention: ";
  constexpr int64_t kInt32Max = std::numeric_limits<int32_t>::max();
  if (p.dtype != DType::kFloat16 && p.dtype != DType::kBFloat16)
    throw_invalid(fn, "dtype must be float16 or bfloat16, got ", dtype_name(p.dtype));
  if (p.head_dim != 64 && p.head_dim != 128)
    throw_invalid(fn, "head_dim must be 64 or 128, got ", p.head_dim);
  if (p.batch < 0 || p.heads_q < 1 || p.heads_kv < 1)
    throw_invalid(fn, "batch must be >= 0 and heads_q, heads_kv >= 1, got ", p.batch, ", ",
                  p.heads_q, ", ", p.heads_kv);
  if (p.heads_q % p.heads_kv != 0)
    throw_invalid(fn, "heads_q (", p.heads_q, ") must be a multiple of heads_kv (", p.heads_kv,
                  ") for GQA/MQA");
  // Key positions are 32-bit in the kernel, with room for one block past the end.
  constexpr int64_t kMaxSeqlen = kInt32Max - 256;
  if (p.seqlen_q < 0 || p.seqlen_k < 0 || p.seqlen_q > kMaxSeqlen || p.seqlen_k > kMaxSeqlen)
    throw_invalid(fn, "seqlen_q and seqlen_k must be in [0, 2^31 - 256], got ", p.seqlen_q, ", ",
                  p.seqlen_k);
  if (p.block_size != 16 && p.block_size != 32 && p.block_size != 64 && p.block_size != 128)
    throw_invalid(fn, "block_size must be 16, 32, 64 or 128, got ", p.block_size);
  if (p.q_block_size != 64 && p.q_block_size != 128)
    throw_invalid(fn, "q_block_size must be 64 or 128, got ", p.q_block_size);
  if (!(p.scale >= 0.f) || !std::isfinite(p.scale))
    throw_invalid(fn, "scale must be positive and finite (0 selects 1/sqrt(head_dim)), got ", p.scale);
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
    check_tensor("q", p.q, p.q_strides, p.batch, p.heads_q, p.seqlen_q, 16, 8);
    check_tensor("out", p.out, p.out_strides, p.batch, p.heads_q, p.seqlen_q, 4, 2);
    if (p.seqlen_k > 0) {
      check_tensor("k", p.k, p.k_strides, p.batch, p.heads_kv, p.seqlen_k, 16, 8);
      check_tensor("v", p.v, p.v_strides, p.batch, p.heads_kv, p.seqlen_k, 16, 8);
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
