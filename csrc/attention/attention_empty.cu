// The degenerate case of no keys at all (seqlen_k == 0): every row gets out = 0, lse = -inf.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "common/cuda_check.h"
#include "triageattention/attention.h"

namespace triageattention::attention {
namespace {

// One thread per (row, head, batch); out rows are written as 16-bit zeros, whatever the dtype.
__global__ void no_keys_kernel(uint16_t* out, AttentionStrides s, int head_dim, float* lse,
                               int64_t seqlen_q, int heads, int64_t rows) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= rows) return;
  const int64_t q = i % seqlen_q, h = (i / seqlen_q) % heads, b = i / (seqlen_q * heads);
  uint16_t* row = out + b * s.batch + h * s.head + q * s.seq;
  for (int d = 0; d < head_dim; ++d) row[d] = 0;
  if (lse != nullptr) lse[i] = -INFINITY;
}

}  // namespace

void launch_no_keys(const BlockSparseAttentionParams& p, cudaStream_t stream) {
  const int64_t rows = int64_t(p.batch) * p.heads_q * p.seqlen_q;
  constexpr int kThreads = 256;
  no_keys_kernel<<<unsigned((rows + kThreads - 1) / kThreads), kThreads, 0, stream>>>(
      static_cast<uint16_t*>(p.out), p.out_strides, p.head_dim, p.lse, p.seqlen_q, p.heads_q, rows);
  TA_CUDA_CHECK(cudaGetLastError());
}

}  // namespace triageattention::attention
