#include <algorithm>
#include <stdexcept>

#include "triageattention/reference.h"

namespace triageattention::reference {
namespace {

void check_shape(const BsrMatrix& A) {
  const int bs = A.block_size;
  if (bs <= 0 || A.rows % bs != 0 || A.cols % bs != 0)
    throw std::invalid_argument("reference::bsr_gemm: rows and cols must be multiples of block_size");
  if (A.crow.size() != std::size_t(A.rows / bs + 1))
    throw std::invalid_argument("reference::bsr_gemm: crow must have rows / block_size + 1 entries");
  if (A.values.size() != A.col.size() * std::size_t(bs) * bs)
    throw std::invalid_argument("reference::bsr_gemm: values must hold nnzb * bs * bs entries");
}

}  // namespace

void bsr_gemm(const BsrMatrix& A, const float* B, int64_t N, int64_t ldb, float* C, int64_t ldc,
              float alpha, float beta) {
  check_shape(A);
  const int bs = A.block_size;
  const int64_t num_k_blocks = A.cols / bs;
  std::vector<double> row(static_cast<std::size_t>(N));
  for (int64_t r = 0; r < A.rows / bs; ++r) {
    for (int i = 0; i < bs; ++i) {
      std::fill(row.begin(), row.end(), 0.0);
      for (int64_t j = A.crow[r]; j < A.crow[r + 1]; ++j) {
        const int64_t c = A.col[j];
        if (c < 0 || c >= num_k_blocks) continue;
        const float* block_row = A.values.data() + (j * bs + i) * bs;
        for (int k = 0; k < bs; ++k) {
          const double a = block_row[k];
          const float* b = B + (c * bs + k) * ldb;
          for (int64_t n = 0; n < N; ++n) row[n] += a * b[n];
        }
      }
      float* out = C + (r * bs + i) * ldc;
      for (int64_t n = 0; n < N; ++n) {
        const double value = alpha * row[n] + (beta != 0.f ? double(beta) * out[n] : 0.0);
        out[n] = float(value);
      }
    }
  }
}

std::vector<float> bsr_to_dense(const BsrMatrix& A) {
  check_shape(A);
  const int bs = A.block_size;
  std::vector<float> dense(std::size_t(A.rows * A.cols), 0.f);
  for (int64_t r = 0; r < A.rows / bs; ++r) {
    for (int64_t j = A.crow[r]; j < A.crow[r + 1]; ++j) {
      const int64_t c = A.col[j];
      if (c < 0 || c >= A.cols / bs) continue;
      for (int i = 0; i < bs; ++i)
        for (int k = 0; k < bs; ++k)
          dense[(r * bs + i) * A.cols + c * bs + k] += A.values[(j * bs + i) * bs + k];
    }
  }
  return dense;
}

}  // namespace triageattention::reference
