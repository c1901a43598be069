// CPU tests of the reference BSR GEMM (runs in CI, no GPU): it must agree with a plain dense
// product of the densified matrix, which is computed here independently.
#include <random>

#include "test_util.h"
#include "triageattention/reference.h"

namespace {

using triageattention::reference::BsrMatrix;

BsrMatrix random_bsr(int rows, int kblocks, int bs, std::mt19937& rng) {
  BsrMatrix A;
  A.rows = int64_t(rows) * bs;
  A.cols = int64_t(kblocks) * bs;
  A.block_size = bs;
  A.crow.push_back(0);
  std::uniform_real_distribution<float> uniform(-1.f, 1.f);
  for (int r = 0; r < rows; ++r) {
    for (int c = 0; c < kblocks; ++c) {
      if ((r + c) % 3 == 0 || r == 1) continue;  // row 1 empty, others partly filled
      A.col.push_back(c);
      for (int i = 0; i < bs * bs; ++i) A.values.push_back(uniform(rng));
    }
    A.crow.push_back(int64_t(A.col.size()));
  }
  return A;
}

TEST(ReferenceBsrGemm, MatchesDenseProduct) {
  std::mt19937 rng(11);
  const int bs = 16, rows = 4, kblocks = 5;
  const int64_t N = 37, ldb = 40, ldc = 45;
  BsrMatrix A = random_bsr(rows, kblocks, bs, rng);
  std::uniform_real_distribution<float> uniform(-1.f, 1.f);
  std::vector<float> B(std::size_t(A.cols * ldb)), C(std::size_t(A.rows * ldc));
  for (auto& v : B) v = uniform(rng);
  for (auto& v : C) v = uniform(rng);
  std::vector<float> C0 = C;
  const float alpha = 0.75f, beta = -0.5f;
  triageattention::reference::bsr_gemm(A, B.data(), N, ldb, C.data(), ldc, alpha, beta);

  const std::vector<float> dense = triageattention::reference::bsr_to_dense(A);
  for (int64_t m = 0; m < A.rows; ++m) {
    for (int64_t n = 0; n < ldc; ++n) {
      if (n >= N) {
        EXPECT_EQ(C[m * ldc + n], C0[m * ldc + n]) << "padding written";
        continue;
      }
      double acc = 0;
      for (int64_t k = 0; k < A.cols; ++k) acc += double(dense[m * A.cols + k]) * B[k * ldb + n];
      const double want = alpha * acc + beta * C0[m * ldc + n];
      EXPECT_NEAR(C[m * ldc + n], want, 1e-5 * (1 + std::abs(want)));
    }
  }
}

TEST(ReferenceBsrGemm, SkipsOutOfRangeColumnsAndIgnoresCWhenBetaIsZero) {
  BsrMatrix A;
  A.rows = 2;
  A.cols = 4;
  A.block_size = 2;
  A.crow = {0, 2};
  A.col = {1, 7};  // the second block lies outside [0, K / bs)
  A.values = {1, 2, 3, 4, 100, 100, 100, 100};
  const std::vector<float> B = {1, 1, 1, 1, 2, 2, 3, 3};  // [4, 2]
  std::vector<float> C = {NAN, NAN, NAN, NAN};
  triageattention::reference::bsr_gemm(A, B.data(), 2, 2, C.data(), 2, 1.f, 0.f);
  // Row 0: 1 * B[2] + 2 * B[3] = 2 + 6 = 8; row 1: 3 * 2 + 4 * 3 = 18.
  EXPECT_EQ(C, (std::vector<float>{8, 8, 18, 18}));
}

TEST(ReferenceBsrGemm, RejectsInconsistentShapes) {
  BsrMatrix A;
  A.rows = 4;
  A.cols = 4;
  A.block_size = 2;
  A.crow = {0, 1};  // needs rows / bs + 1 = 3 entries
  A.col = {0};
  A.values = {1, 2, 3, 4};
  float B[8] = {}, C[8] = {};
  EXPECT_THROW(triageattention::reference::bsr_gemm(A, B, 2, 2, C, 2, 1.f, 0.f), std::invalid_argument);
}

}  // namespace
