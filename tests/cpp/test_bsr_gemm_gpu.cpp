// GPU tests of the BSR GEMM against the double-precision CPU reference. Skipped without a Hopper GPU.
#include <algorithm>
#include <cstring>
#include <numeric>

#include "../../csrc/gemm/bsr_gemm_launch.h"
#include "../../csrc/gemm/bsr_gemm_schedule.h"
#include "test_util.h"
#include "triageattention/reference.h"
#include "triageattention/sparse_gemm.h"

namespace {

using namespace ta_test;
using triageattention::BsrGemmParams;
using triageattention::IndexType;

struct Pattern {
  std::vector<int64_t> crow;  // what the kernel is given (may be malformed on purpose)
  std::vector<int64_t> col;
};

std::vector<int64_t> sorted_sample(int kblocks, int count, std::mt19937& rng) {
  std::vector<int64_t> all(kblocks);
  std::iota(all.begin(), all.end(), 0);
  std::shuffle(all.begin(), all.end(), rng);
  all.resize(count);
  std::sort(all.begin(), all.end());
  return all;
}

Pattern fixed_pattern(int rows, int kblocks, int topk, std::mt19937& rng) {
  Pattern p;
  for (int r = 0; r <= rows; ++r) p.crow.push_back(int64_t(r) * topk);
  for (int r = 0; r < rows; ++r) {
    auto cols = sorted_sample(kblocks, topk, rng);
    p.col.insert(p.col.end(), cols.begin(), cols.end());
  }
  return p;
}

// Random row lengths including empty rows and one row holding every block.
Pattern uneven_pattern(int rows, int kblocks, std::mt19937& rng) {
  Pattern p{{0}, {}};
  std::uniform_int_distribution<int> length(0, kblocks);
  for (int r = 0; r < rows; ++r) {
    int n = length(rng);
    if (r % 4 == 1) n = 0;
    if (r == 2) n = kblocks;
    auto cols = sorted_sample(kblocks, n, rng);
    p.col.insert(p.col.end(), cols.begin(), cols.end());
    p.crow.push_back(int64_t(p.col.size()));
  }
  return p;
}

struct Problem {
  DType in = DType::kBFloat16;
  DType out = DType::kBFloat16;
  int bs = 64;
  int rows = 4;
  int64_t N = 200;
  int kblocks = 6;
  int64_t ldb_pad = 0, ldc_pad = 0;
  bool fixed_form = true;
  bool int64_indices = false;
  float alpha = 1.f, beta = 0.f;
  Pattern pattern;
};

// Runs the kernel once and checks every element of C (and that C's padding is untouched).
void run_and_check(const Problem& pb, std::mt19937& rng, int repeats = 1) {
  const int bs = pb.bs;
  const int64_t M = int64_t(pb.rows) * bs, K = int64_t(pb.kblocks) * bs, N = pb.N;
  const int64_t ldb = N + pb.ldb_pad, ldc = N + pb.ldc_pad;
  const int64_t nnzb = int64_t(pb.pattern.col.size());

  std::vector<float> values_f, b_f, c_init_f;
  TypedHost values = random_typed(pb.in, std::size_t(nnzb) * bs * bs, rng, &values_f);
  TypedHost b = random_typed(pb.in, std::size_t(K * ldb), rng, &b_f);
  TypedHost c_init = random_typed(pb.out, std::size_t(M * ldc), rng, &c_init_f);

  DeviceBuffer d_values(values.bytes()), d_b(b.bytes()), d_c(c_init.bytes());
  d_values.upload(values.data(), values.bytes());
  d_b.upload(b.data(), b.bytes());
  // beta == 0: C must be write-only, so poison it (all-ones bytes are NaN in every dtype).
  if (pb.beta == 0.f) {
    d_c.fill_bytes(0xFF);
    for (std::size_t i = 0; i < c_init.size(); ++i) c_init.set(i, NAN);
  } else {
    d_c.upload(c_init.data(), c_init.bytes());
  }

  const std::size_t index_size = pb.int64_indices ? 8 : 4;
  auto pack_indices = [&](const std::vector<int64_t>& v) {
    std::vector<unsigned char> bytes(v.size() * index_size);
    for (std::size_t i = 0; i < v.size(); ++i) {
      if (pb.int64_indices) std::memcpy(&bytes[i * 8], &v[i], 8);
      else {
        const int32_t x = int32_t(v[i]);
        std::memcpy(&bytes[i * 4], &x, 4);
      }
    }
    return bytes;
  };
  const auto crow_bytes = pack_indices(pb.pattern.crow);
  const auto col_bytes = pack_indices(pb.pattern.col);
  DeviceBuffer d_crow(crow_bytes.size()), d_col(col_bytes.size());
  d_crow.upload(crow_bytes.data(), crow_bytes.size());
  d_col.upload(col_bytes.data(), col_bytes.size());

  BsrGemmParams p;
  p.M = M;
  p.N = N;
  p.K = K;
  p.block_size = bs;
  p.crow_indices = pb.fixed_form ? nullptr : d_crow.get();
  p.col_indices = d_col.get();
  p.index_type = pb.int64_indices ? IndexType::kInt64 : IndexType::kInt32;
  p.nnzb = nnzb;
  p.topk = pb.fixed_form ? int(nnzb / pb.rows) : 0;
  p.values = d_values.get();
  p.B = d_b.get();
  p.ldb = ldb;
  p.C = d_c.get();
  p.ldc = ldc;
  p.input_type = pb.in;
  p.output_type = pb.out;
  p.alpha = pb.alpha;
  p.beta = pb.beta;
  const std::size_t ws_bytes = triageattention::bsr_gemm_workspace_bytes(p);
  DeviceBuffer workspace(ws_bytes);

  TypedHost first(pb.out, c_init.size());
  for (int rep = 0; rep < repeats; ++rep) {
    if (pb.beta != 0.f) d_c.upload(c_init.data(), c_init.bytes());
    triageattention::bsr_gemm(p, workspace.get(), ws_bytes, nullptr);
    TA_EXPECT_CUDA(cudaDeviceSynchronize());
    TA_EXPECT_CUDA(cudaGetLastError());
    TypedHost got(pb.out, c_init.size());
    d_c.download(got.data(), got.bytes());
    if (rep == 0) {
      first = got;
    } else {
      ASSERT_EQ(0, std::memcmp(first.data(), got.data(), got.bytes()))
          << "run " << rep << " differs bitwise from run 0";
    }
  }

  // Reference on the pattern as the kernel reads it (row ranges clamped to [0, nnzb]).
  triageattention::reference::BsrMatrix A;
  A.rows = M;
  A.cols = K;
  A.block_size = bs;
  A.crow.push_back(0);
  for (int r = 0; r < pb.rows; ++r) {
    int64_t begin = pb.pattern.crow[r], end = pb.pattern.crow[r + 1];
    begin = std::clamp<int64_t>(begin, 0, nnzb);
    end = std::clamp<int64_t>(end, begin, nnzb);
    for (int64_t j = begin; j < end; ++j) {
      A.col.push_back(pb.pattern.col[j]);
      A.values.insert(A.values.end(), values_f.begin() + j * bs * bs, values_f.begin() + (j + 1) * bs * bs);
    }
    A.crow.push_back(int64_t(A.col.size()));
  }
  std::vector<float> want(c_init_f);
  triageattention::reference::bsr_gemm(A, b_f.data(), N, ldb, want.data(), ldc, pb.alpha, pb.beta);

  std::vector<float> got_rows, want_rows;
  for (int64_t m = 0; m < M; ++m) {
    for (int64_t n = 0; n < ldc; ++n) {
      const float g = first.get(m * ldc + n);
      if (n < N) {
        got_rows.push_back(g);
        want_rows.push_back(want[m * ldc + n]);
      } else {
        const float untouched = c_init.get(m * ldc + n);
        ASSERT_TRUE(std::isnan(untouched) ? std::isnan(g) : g == untouched)
            << "padding column " << n << " of row " << m << " was written";
      }
    }
  }
  const double tolerance = pb.out == DType::kFloat32 ? 2e-4 : (pb.out == DType::kFloat16 ? 1.0 / 1024 : 1.0 / 128);
  const double err = max_scaled_error(got_rows, want_rows);
  EXPECT_LE(err, tolerance) << "bs " << bs << " in " << triageattention::dtype_name(pb.in) << " out "
                            << triageattention::dtype_name(pb.out) << " M " << M << " N " << N
                            << " K " << K << " nnzb " << nnzb;
}

class BsrGemmAllConfigs : public ::testing::TestWithParam<std::tuple<DType, bool, int>> {
 protected:
  // This case's dtypes and block size in a fresh problem (fp32 or same-dtype output).
  static Problem configured_problem() {
    const auto [in, fp32_out, bs] = GetParam();
    Problem pb;
    pb.in = in;
    pb.out = fp32_out ? DType::kFloat32 : in;
    pb.bs = bs;
    return pb;
  }
};

// One-config builds compile only some configurations.
bool is_built(const Problem& pb) { return triageattention::bsr_gemm_is_built(pb.in, pb.out, pb.bs); }

TEST_P(BsrGemmAllConfigs, FixedTopkMatchesReference) {
  TA_REQUIRE_GPU();
  Problem pb = configured_problem();
  if (!is_built(pb)) GTEST_SKIP() << "configuration not built";
  std::mt19937 rng(1000 + pb.bs);
  pb.rows = 5;
  pb.kblocks = 7;
  pb.N = 200;  // one partial column tile
  pb.pattern = fixed_pattern(pb.rows, pb.kblocks, 3, rng);
  run_and_check(pb, rng);
}

TEST_P(BsrGemmAllConfigs, UnevenRowsStridesAlphaBeta) {
  TA_REQUIRE_GPU();
  Problem pb = configured_problem();
  if (!is_built(pb)) GTEST_SKIP() << "configuration not built";
  std::mt19937 rng(2000 + pb.bs);
  pb.rows = 9;
  pb.kblocks = 5;
  pb.N = 1000;  // four column tiles, the last one partial
  pb.ldb_pad = 8;
  pb.ldc_pad = 24;
  pb.fixed_form = false;
  pb.int64_indices = true;
  pb.alpha = 0.5f;
  pb.beta = -1.5f;
  pb.pattern = uneven_pattern(pb.rows, pb.kblocks, rng);
  run_and_check(pb, rng);
}

// Whole column tiles with beta == 0 and 16-byte aligned rows take the 16-byte-store epilogue
// (bs 64 / 128); the last, partial tile and misaligned rows (ldc_pad 2) take the pair stores.
TEST_P(BsrGemmAllConfigs, WholeTilesAlignedAndMisaligned) {
  TA_REQUIRE_GPU();
  if (!is_built(configured_problem())) GTEST_SKIP() << "configuration not built";
  for (int64_t ldc_pad : {0, 2}) {
    Problem pb = configured_problem();
    std::mt19937 rng(4000 + pb.bs + int(ldc_pad));
    pb.rows = 6;
    pb.kblocks = 4;
    pb.N = 1160;  // two whole 512-column tiles (four of 256) and a partial one
    pb.ldc_pad = ldc_pad;
    pb.fixed_form = false;
    pb.alpha = 0.75f;
    pb.pattern = uneven_pattern(pb.rows, pb.kblocks, rng);
    run_and_check(pb, rng);
  }
}

INSTANTIATE_TEST_SUITE_P(, BsrGemmAllConfigs,
                         ::testing::Combine(::testing::Values(DType::kFloat16, DType::kBFloat16),
                                            ::testing::Bool(), ::testing::Values(16, 32, 64, 128)),
                         [](const auto& info) {
                           return std::string(std::get<0>(info.param) == DType::kFloat16 ? "fp16" : "bf16") +
                                  (std::get<1>(info.param) ? "_outfp32" : "_outsame") + "_bs" +
                                  std::to_string(std::get<2>(info.param));
                         });

// More work items than SMs: CTAs take several items and the pipeline carries across them.
TEST(BsrGemm, PersistentScheduleManyItems) {
  TA_REQUIRE_GPU();
  for (int bs : {16, 64}) {
    if (!triageattention::bsr_gemm_is_built(DType::kBFloat16, DType::kBFloat16, bs)) continue;
    std::mt19937 rng(3000 + bs);
    Problem pb;
    pb.bs = bs;
    pb.rows = 70;
    pb.kblocks = 6;
    pb.N = 776;
    pb.fixed_form = false;
    pb.pattern = uneven_pattern(pb.rows, pb.kblocks, rng);
    run_and_check(pb, rng);
  }
}

// Out-of-range columns contribute nothing and malformed crow values are clamped: never an
// out-of-bounds read (run under compute-sanitizer by scripts/sanitize.sh).
TEST(BsrGemm, MalformedIndicesAreSafe) {
  TA_REQUIRE_GPU();
  if (!triageattention::bsr_gemm_is_built(DType::kBFloat16, DType::kBFloat16, 32)) GTEST_SKIP();
  std::mt19937 rng(4000);
  Problem pb;
  pb.bs = 32;
  pb.rows = 6;
  pb.kblocks = 4;
  pb.N = 96;
  pb.fixed_form = false;
  pb.pattern.col = {0, -5, 3, 4, 1, 1000, 2, -1, 3, 0, 2, 1};
  pb.pattern.crow = {0, 3, 2, 7, 100, -4, 12};  // decreasing, past nnzb, negative
  run_and_check(pb, rng);
  pb.int64_indices = true;
  pb.pattern.col[5] = int64_t(1) << 40;
  run_and_check(pb, rng);
}

TEST(BsrGemm, NoStoredBlocksGivesBetaC) {
  TA_REQUIRE_GPU();
  if (!triageattention::bsr_gemm_is_built(DType::kBFloat16, DType::kFloat32, 64)) GTEST_SKIP();
  std::mt19937 rng(5000);
  Problem pb;
  pb.out = DType::kFloat32;
  pb.rows = 3;
  pb.kblocks = 2;
  pb.N = 8;  // narrower than one TMA box
  pb.fixed_form = false;
  pb.pattern.crow = {0, 0, 0, 0};
  run_and_check(pb, rng);  // beta = 0: zeros over poisoned C
  pb.beta = 2.f;
  run_and_check(pb, rng);
}

TEST(BsrGemm, BitwiseIdenticalOver100Runs) {
  TA_REQUIRE_GPU();
  if (!triageattention::bsr_gemm_is_built(DType::kBFloat16, DType::kBFloat16, 32)) GTEST_SKIP();
  std::mt19937 rng(6000);
  Problem pb;
  pb.bs = 32;
  pb.rows = 48;
  pb.kblocks = 32;
  pb.N = 1024;
  pb.fixed_form = false;
  pb.pattern = uneven_pattern(pb.rows, pb.kblocks, rng);
  run_and_check(pb, rng, 100);
}

TEST(BsrGemm, ClassApiFixedTopk) {
  TA_REQUIRE_GPU();
  if (!triageattention::bsr_gemm_is_built(DType::kBFloat16, DType::kFloat32, 64)) GTEST_SKIP();
  constexpr int M = 256, N = 128, K = 512, bs = 64, topk = 2;
  std::mt19937 rng(7000);
  Pattern pattern = fixed_pattern(M / bs, K / bs, topk, rng);
  std::vector<float> values_f, b_f;
  TypedHost values = random_typed(DType::kBFloat16, std::size_t(pattern.col.size()) * bs * bs, rng, &values_f);
  TypedHost b = random_typed(DType::kBFloat16, std::size_t(K) * N, rng, &b_f);
  std::vector<int32_t> cols(pattern.col.begin(), pattern.col.end());
  DeviceBuffer d_values(values.bytes()), d_b(b.bytes()), d_c(std::size_t(M) * N * 4), d_cols(cols.size() * 4);
  d_values.upload(values.data(), values.bytes());
  d_b.upload(b.data(), b.bytes());
  d_cols.upload(cols.data(), cols.size() * 4);
  d_c.fill_bytes(0xFF);

  triageattention::SparseBSRGEMM<__nv_bfloat16, float> gemm(M, N, K, bs, topk);
  gemm.execute(static_cast<const __nv_bfloat16*>(d_values.get()), static_cast<const int32_t*>(d_cols.get()),
               static_cast<const __nv_bfloat16*>(d_b.get()), static_cast<float*>(d_c.get()));
  TA_EXPECT_CUDA(cudaDeviceSynchronize());
  std::vector<float> got(std::size_t(M) * N), want(std::size_t(M) * N);
  d_c.download(got.data(), got.size() * 4);

  triageattention::reference::BsrMatrix A{M, K, bs, pattern.crow, pattern.col, values_f};
  triageattention::reference::bsr_gemm(A, b_f.data(), N, N, want.data(), N, 1.f, 0.f);
  EXPECT_LE(max_scaled_error(got, want), 2e-4);
}

// The general form's row order: longest first, equal lengths in row order (a stable sort on the
// host of the clamped lengths), through both paths (one CTA ranking up to 1024 rows, CUB's sort
// beyond), both index widths and malformed crow values.
TEST(BsrGemm, RowOrderIsLongestFirstAndStable) {
  TA_REQUIRE_GPU();
  std::mt19937 rng(6000);
  for (int num_rows : {2, 3, 129, 1024, 1025, 20000}) {
    for (bool int64 : {false, true}) {
      SCOPED_TRACE(::testing::Message() << num_rows << " rows, " << (int64 ? "int64" : "int32"));
      std::vector<int64_t> crow(num_rows + 1, 0);
      for (int r = 0; r < num_rows; ++r) crow[r + 1] = crow[r] + int64_t(rng() % 9);
      const int64_t nnzb = crow.back();
      crow[1] = nnzb + 7;  // row 0 runs past nnzb, row 1 backwards: both clamped
      std::vector<int32_t> crow32(crow.begin(), crow.end());
      DeviceBuffer d_crow(crow.size() * (int64 ? 8 : 4));
      d_crow.upload(int64 ? static_cast<const void*>(crow.data()) : crow32.data(), d_crow.bytes());

      BsrGemmParams p;
      p.block_size = 64;
      p.M = int64_t(num_rows) * p.block_size;
      p.K = 64 * 64;
      p.N = 64;
      p.nnzb = nnzb;
      p.crow_indices = d_crow.get();
      p.index_type = int64 ? IndexType::kInt64 : IndexType::kInt32;
      DeviceBuffer workspace(triageattention::gemm::RowOrderWorkspace::bytes(num_rows));
      const int* d_order = triageattention::gemm::RowOrderWorkspace::compute(
          p, workspace.get(), workspace.bytes(), nullptr);
      ASSERT_NE(d_order, nullptr);
      std::vector<int> got(num_rows);
      TA_EXPECT_CUDA(cudaMemcpy(got.data(), d_order, sizeof(int) * num_rows, cudaMemcpyDefault));

      const triageattention::gemm::BsrRowBlocks blocks{crow.data(), nullptr, true, nnzb, 0, 64};
      std::vector<int64_t> length(num_rows);
      for (int r = 0; r < num_rows; ++r) length[r] = blocks.row(r).end - blocks.row(r).begin;
      std::vector<int> want(num_rows);
      std::iota(want.begin(), want.end(), 0);
      std::stable_sort(want.begin(), want.end(),
                       [&](int a, int b) { return length[a] > length[b]; });
      EXPECT_EQ(got, want);
    }
  }
}

}  // namespace
