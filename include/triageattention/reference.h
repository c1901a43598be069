// CPU reference implementations: plain loops in double precision, independent of the kernels.
// Used by the tests and by the demo on machines without a GPU.
#pragma once

#include <cstdint>
#include <vector>

namespace triageattention::reference {

// Host-side BSR matrix in torch's sparse_bsr layout, values already widened to float.
struct BsrMatrix {
  int64_t rows = 0, cols = 0;     // M, K
  int block_size = 0;
  std::vector<int64_t> crow;      // [rows / bs + 1]
  std::vector<int64_t> col;       // [nnzb]
  std::vector<float> values;      // [nnzb, bs, bs]
};

// C = alpha * A @ B + beta * C in double precision, rounded to float at the end.
// B is [K, N] row-major with leading dimension ldb, C is [M, N] with leading dimension ldc.
// Blocks whose column lies outside [0, K / bs) are skipped, as the kernel does. When beta == 0,
// C is not read.
void bsr_gemm(const BsrMatrix& A, const float* B, int64_t N, int64_t ldb, float* C, int64_t ldc,
              float alpha, float beta);

// Expands A to a dense row-major [M, K] matrix.
std::vector<float> bsr_to_dense(const BsrMatrix& A);

}  // namespace triageattention::reference
