// Host-side argument checks of the BSR GEMM (runs in CI, no GPU): every bad argument is rejected
// before any device work, with a message naming the argument. Also the launch's grid arithmetic.
#include <string>

#include "../../csrc/gemm/bsr_gemm_launch.h"
#include "test_util.h"
#include "triageattention/sparse_gemm.h"

namespace {

using triageattention::BsrGemmParams;
using triageattention::DType;

alignas(16) char g_stand_in[64];

BsrGemmParams valid_params() {
  BsrGemmParams p;
  p.M = 256;
  p.N = 512;
  p.K = 512;
  p.block_size = 64;
  p.topk = 2;
  p.nnzb = 4 * 2;
  p.col_indices = g_stand_in;
  p.values = g_stand_in;
  p.B = g_stand_in;
  p.ldb = 512;
  p.C = g_stand_in;
  p.ldc = 512;
  return p;
}

void expect_rejected(const BsrGemmParams& p, const std::string& needle) {
  ta_test::expect_rejected_by(triageattention::check_bsr_gemm_params, p, needle);
}

TEST(BsrGemmParams, ValidParametersPass) {
  if (!triageattention::bsr_gemm_is_built(DType::kBFloat16, DType::kBFloat16, 64)) GTEST_SKIP();
  EXPECT_NO_THROW(triageattention::check_bsr_gemm_params(valid_params()));
}

TEST(BsrGemmParams, EachBadArgumentIsNamed) {
  BsrGemmParams p;
  p = valid_params(); p.block_size = 48; expect_rejected(p, "block_size");
  p = valid_params(); p.input_type = DType::kFloat32; expect_rejected(p, "input dtype");
  p = valid_params(); p.input_type = DType::kFloat16; expect_rejected(p, "output dtype");
  p = valid_params(); p.M = 100; expect_rejected(p, "M must be");
  p = valid_params(); p.K = 100; expect_rejected(p, "K must be");
  p = valid_params(); p.K = 0; expect_rejected(p, "K must be");
  p = valid_params(); p.N = 0; expect_rejected(p, "N must be");
  p = valid_params(); p.M = int64_t(64) << 30; expect_rejected(p, "M / block_size times N / 256");
  p = valid_params(); p.M = int64_t(1) << 60; expect_rejected(p, "M / block_size times N / 256");
  p = valid_params(); p.nnzb = 7; expect_rejected(p, "nnzb");
  p = valid_params(); p.topk = -1; expect_rejected(p, "topk");
  p = valid_params(); p.ldb = 500; expect_rejected(p, "ldb");
  p = valid_params(); p.N = 509; p.ldb = 509; p.ldc = 509; expect_rejected(p, "ldb");
  p = valid_params(); p.ldc = 100; expect_rejected(p, "ldc");
  p = valid_params(); p.B = g_stand_in + 2; expect_rejected(p, "B must be 16-byte aligned");
  p = valid_params(); p.values = g_stand_in + 8; expect_rejected(p, "values must be 16-byte aligned");
  p = valid_params(); p.col_indices = nullptr; expect_rejected(p, "col_indices");
  p = valid_params(); p.C = nullptr; expect_rejected(p, "C must be non-null");
}

TEST(BsrGemmParams, WorkspaceOnlyForTheGeneralForm) {
  BsrGemmParams p = valid_params();
  EXPECT_EQ(triageattention::bsr_gemm_workspace_bytes(p), 0u);
  // The general form's size comes from CUB's sort, which asks the device.
  TA_REQUIRE_GPU();
  p.crow_indices = g_stand_in;
  EXPECT_GT(triageattention::bsr_gemm_workspace_bytes(p), 4u * 4u * sizeof(int));
}

// The GEMM's grid: the fewest clusters that take the same number of rounds as all resident ones.
TEST(BsrGemmGrid, BalancedClusterCountKeepsTheRoundsAndFillsThem) {
  using triageattention::gemm::balanced_cluster_count;
  EXPECT_EQ(balanced_cluster_count(1024, 66), 64);   // bs 64, 8192^3: 16 full rounds, not 15.5
  EXPECT_EQ(balanced_cluster_count(8192, 132), 131);  // bs 16: 63 rounds either way
  EXPECT_EQ(balanced_cluster_count(40, 66), 40);     // fewer items than clusters: one each
  EXPECT_EQ(balanced_cluster_count(66, 66), 66);
  EXPECT_EQ(balanced_cluster_count(67, 66), 34);     // two rounds: 34 + 33
  EXPECT_EQ(balanced_cluster_count(1, 1), 1);
  for (int64_t items = 1; items <= 3000; items += 7) {
    for (int resident : {1, 30, 64, 66, 132}) {
      const int c = balanced_cluster_count(items, resident);
      const int64_t rounds = (items + resident - 1) / resident;
      ASSERT_GE(c, 1);
      ASSERT_LE(c, resident);
      ASSERT_EQ((items + c - 1) / c, rounds) << items << " items, " << resident << " resident";
      if (c > 1) ASSERT_GT((items + c - 2) / (c - 1), rounds) << "one cluster fewer also fits";
    }
  }
}

TEST(SparseBSRGEMM, ConstructorValidatesShape) {
  using Gemm = triageattention::SparseBSRGEMM<__nv_bfloat16>;
  EXPECT_THROW(Gemm(256, 512, 512, 24, 2), std::invalid_argument);  // block size
  EXPECT_THROW(Gemm(250, 512, 512, 64, 2), std::invalid_argument);  // M % bs
  EXPECT_THROW(Gemm(256, 512, 512, 64, 0), std::invalid_argument);  // topk < 1
  EXPECT_THROW(Gemm(256, 512, 512, 64, 9), std::invalid_argument);  // topk > K / bs
  EXPECT_THROW(Gemm(256, 510, 512, 64, 2), std::invalid_argument);  // rows of B not 16-byte aligned
  if (triageattention::bsr_gemm_is_built(DType::kBFloat16, DType::kBFloat16, 64)) {
    EXPECT_NO_THROW(Gemm(256, 512, 512, 64, 8));
  }
}

}  // namespace
