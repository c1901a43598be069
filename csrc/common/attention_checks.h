// Host-side argument checks shared by the attention-shaped entry points (block-sparse attention,
// triage, the decode's tensors): one wording for one rule. `fn` is the message prefix, e.g.
// "triage: ".
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>

#include "common/cuda_check.h"
#include "triageattention/attention.h"

namespace triageattention::detail {

// dtype, batch and heads (GQA ratio), sequence lengths, key and query block sizes, scale.
inline void check_attention_shape(const char* fn, DType dtype, int batch, int heads_q,
                                  int heads_kv, int64_t seqlen_q, int64_t seqlen_k,
                                  int block_size, int q_block_size, float scale) {
  if (dtype != DType::kFloat16 && dtype != DType::kBFloat16)
    throw_invalid(fn, "dtype must be float16 or bfloat16, got ", dtype_name(dtype));
  if (batch < 0 || heads_q < 1 || heads_kv < 1)
    throw_invalid(fn, "batch must be >= 0 and heads_q, heads_kv >= 1, got ", batch, ", ",
                  heads_q, ", ", heads_kv);
  if (heads_q % heads_kv != 0)
    throw_invalid(fn, "heads_q (", heads_q, ") must be a multiple of heads_kv (", heads_kv,
                  ") for GQA/MQA");
  // Key positions are 32-bit in the kernels, with room for one block past the end.
  constexpr int64_t kMaxSeqlen = std::numeric_limits<int32_t>::max() - 256;
  if (seqlen_q < 0 || seqlen_k < 0 || seqlen_q > kMaxSeqlen || seqlen_k > kMaxSeqlen)
    throw_invalid(fn, "seqlen_q and seqlen_k must be in [0, 2^31 - 256], got ", seqlen_q, ", ",
                  seqlen_k);
  if (block_size != 16 && block_size != 32 && block_size != 64 && block_size != 128)
    throw_invalid(fn, "block_size must be 16, 32, 64 or 128, got ", block_size);
  if (q_block_size != 64 && q_block_size != 128)
    throw_invalid(fn, "q_block_size must be 64 or 128, got ", q_block_size);
  if (!(scale >= 0.f) || !std::isfinite(scale))
    throw_invalid(fn, "scale must be positive and finite (0 selects 1/sqrt(head_dim)), got ",
                  scale);
}

// A [B, H, S, D] tensor: non-null, aligned, and strides of dimensions longer than 1 positive
// multiples of stride_multiple elements (TMA needs 16-byte strides and cannot broadcast); a
// dimension of extent 1 may have any stride.
inline void check_attention_tensor(const char* fn, const char* name, const void* ptr,
                                   const AttentionStrides& s, int64_t batch, int64_t heads,
                                   int64_t seqlen, std::size_t align_bytes,
                                   int64_t stride_multiple) {
  if (ptr == nullptr) throw_invalid(fn, name, " must be non-null");
  if (!aligned(ptr, align_bytes))
    throw_invalid(fn, name, " must be ", align_bytes, "-byte aligned");
  const int64_t extents[3] = {batch, heads, seqlen};
  const int64_t strides[3] = {s.batch, s.head, s.seq};
  for (int i = 0; i < 3; ++i) {
    if (extents[i] > 1 && (strides[i] <= 0 || strides[i] % stride_multiple != 0))
      throw_invalid(fn, name, " strides must be positive multiples of ", stride_multiple,
                    " elements (", stride_multiple * 2, " bytes), got batch/head/seq strides ",
                    s.batch, "/", s.head, "/", s.seq);
  }
}

}  // namespace triageattention::detail
