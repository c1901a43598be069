// Block-sparse (BSR) times dense matrix product on Hopper: C = alpha * A @ B + beta * C.
//
// A is M x K in torch's sparse_bsr layout (crow_indices [M/bs + 1], col_indices [nnzb],
// values [nnzb, bs, bs], each block row-major and contiguous); B is K x N and C is M x N, both
// row-major with a leading dimension. Inputs fp16 or bf16, accumulation fp32, C in the input type
// or fp32. Block sizes 16, 32, 64, 128.
//
// Safety: indices are read on the device and never dereferenced out of range. A column index
// outside [0, K/bs) contributes nothing; crow values are clamped to [0, nnzb] and made
// non-decreasing. Validating indices (order, range) is the caller's choice, since it needs a sync.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime_api.h>

#include "triageattention/types.h"

namespace triageattention {

struct BsrGemmParams {
  int64_t M = 0, N = 0, K = 0;
  int block_size = 0;

  // General BSR (crow_indices != nullptr): row r owns blocks [crow[r], crow[r + 1]).
  // Fixed top-k (crow_indices == nullptr): row r owns blocks [r * topk, (r + 1) * topk).
  const void* crow_indices = nullptr;
  const void* col_indices = nullptr;
  IndexType index_type = IndexType::kInt32;
  int64_t nnzb = 0;  // number of stored blocks: values holds nnzb * bs * bs elements
  int topk = 0;      // fixed form only

  const void* values = nullptr;  // [nnzb, bs, bs], 16-byte aligned
  const void* B = nullptr;       // [K, N] row-major, 16-byte aligned
  int64_t ldb = 0;               // >= N, ldb * element size a multiple of 16 bytes
  void* C = nullptr;             // [M, N] row-major
  int64_t ldc = 0;               // >= N

  DType input_type = DType::kBFloat16;   // A values and B
  DType output_type = DType::kBFloat16;  // C: the input type or kFloat32
  float alpha = 1.f;
  float beta = 0.f;  // beta == 0: C is write-only (never read, may hold NaN)
};

// Throws std::invalid_argument if the parameters are not supported (message names the field).
void check_bsr_gemm_params(const BsrGemmParams& p);

// Device workspace the general (crow) form needs for its load-balancing row order; 0 for the
// fixed top-k form. The caller allocates it (e.g. from a caching allocator) and may reuse it.
// The general form's size comes from CUB's sort and needs a CUDA device to query.
std::size_t bsr_gemm_workspace_bytes(const BsrGemmParams& p);

// Enqueues the product on `stream`. No host synchronization, no allocation: capturable in a CUDA
// graph. Bitwise deterministic: each output tile is reduced by one CTA in a fixed order.
void bsr_gemm(const BsrGemmParams& p, void* workspace, std::size_t workspace_bytes,
              cudaStream_t stream);

// True when this build contains the kernel for (input type, output type, block size); a
// one-config build (TRIAGEATTENTION_DTYPES / TRIAGEATTENTION_BLOCK_SIZES) omits the others.
bool bsr_gemm_is_built(DType input_type, DType output_type, int block_size);

// Fixed top-k form: every block-row of A holds exactly `topk` blocks.
//   A_values [M/bs * topk, bs, bs], A_cols [M/bs, topk] int32, B [K, N], C [M, N], all dense
//   row-major. T is __half or __nv_bfloat16; TC is T or float.
template <typename T, typename TC = T>
class SparseBSRGEMM {
 public:
  SparseBSRGEMM(int M, int N, int K, int block_size, int topk);

  void execute(const T* A_values, const int32_t* A_cols, const T* B, TC* C,
               cudaStream_t stream = nullptr, float alpha = 1.f, float beta = 0.f) const;

  int M() const { return M_; }
  int N() const { return N_; }
  int K() const { return K_; }
  int block_size() const { return block_size_; }
  int topk() const { return topk_; }

 private:
  int M_, N_, K_, block_size_, topk_;
};

}  // namespace triageattention
