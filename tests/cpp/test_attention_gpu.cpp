// GPU tests of block-sparse attention against the double-precision CPU reference with an
// explicit token mask. Skipped without a Hopper GPU. The wider grid (long sequences, peers'
// error as the bar) lives in tests/python/test_attention.py, which has torch for the reference.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <sstream>
#include <tuple>

#include "test_util.h"
#include "triageattention/attention.h"
#include "triageattention/reference.h"

namespace {

using namespace ta_test;
using triageattention::AttentionStrides;
using triageattention::BlockSparseAttentionParams;

struct Case {
  DType dtype = DType::kBFloat16;
  int head_dim = 128;
  int block_size = 64;
  int q_block = 128;
  bool causal = false;
  int batch = 1, heads_q = 4, heads_kv = 2;
  int64_t seqlen_q = 113, seqlen_k = 300;
  bool dense = false;           // kv_indices == nullptr
  bool per_query_head = false;  // pattern heads = heads_q
  bool seq_major = false;       // q/k/v as [B, S, H, D] viewed in SDPA order
};

std::string describe(const Case& c) {
  std::ostringstream s;
  s << triageattention::dtype_name(c.dtype) << " D" << c.head_dim << " bs" << c.block_size << " qb"
    << c.q_block << (c.causal ? " causal" : "") << " B" << c.batch << " H" << c.heads_q << "/"
    << c.heads_kv << " Sq" << c.seqlen_q << " Sk" << c.seqlen_k << (c.dense ? " dense" : "")
    << (c.per_query_head ? " per-head" : "") << (c.seq_major ? " seq-major" : "");
  return s.str();
}

// Strides of a [B, H, S, D] view of a buffer stored as [B, H, S, D] or as [B, S, H, D].
AttentionStrides strides_for(const Case& c, int heads, int64_t seqlen) {
  if (c.seq_major) return {seqlen * heads * c.head_dim, c.head_dim, int64_t(heads) * c.head_dim};
  return {int64_t(heads) * seqlen * c.head_dim, seqlen * c.head_dim, c.head_dim};
}

// Copies a [B, H, S, D] array into the storage order of `strides`.
TypedHost to_storage(const std::vector<float>& bhsd, DType t, int B, int H, int64_t S, int D,
                     const AttentionStrides& st) {
  TypedHost out(t, bhsd.size());
  for (int b = 0; b < B; ++b)
    for (int h = 0; h < H; ++h)
      for (int64_t s = 0; s < S; ++s)
        for (int d = 0; d < D; ++d)
          out.set(b * st.batch + h * st.head + s * st.seq + d, bhsd[((int64_t(b) * H + h) * S + s) * D + d]);
  return out;
}

void run_case(const Case& c, std::mt19937& rng) {
  SCOPED_TRACE(describe(c));
  const int D = c.head_dim;
  const int64_t q_elems = int64_t(c.batch) * c.heads_q * c.seqlen_q * D;
  const int64_t kv_elems = int64_t(c.batch) * c.heads_kv * c.seqlen_k * D;
  std::vector<float> q_f, k_f, v_f;
  random_typed(c.dtype, q_elems, rng, &q_f);  // rounded to the dtype, widened
  random_typed(c.dtype, kv_elems, rng, &k_f);
  random_typed(c.dtype, kv_elems, rng, &v_f);
  // Scores larger than uniform(-1, 1) inputs give, so that the softmax is far from flat.
  TypedHost round(c.dtype, 1);
  for (auto& x : q_f) {
    round.set(0, 3.f * x);
    x = round.get(0);
  }

  const AttentionStrides q_st = strides_for(c, c.heads_q, c.seqlen_q);
  const AttentionStrides kv_st = strides_for(c, c.heads_kv, c.seqlen_k);
  TypedHost q = to_storage(q_f, c.dtype, c.batch, c.heads_q, c.seqlen_q, D, q_st);
  TypedHost k = to_storage(k_f, c.dtype, c.batch, c.heads_kv, c.seqlen_k, D, kv_st);
  TypedHost v = to_storage(v_f, c.dtype, c.batch, c.heads_kv, c.seqlen_k, D, kv_st);

  // Pattern: each row visits a random half of the key blocks (ascending), then two junk entries
  // past its count and one out-of-range index inside it.
  const int64_t nq = triageattention::num_query_blocks(c.seqlen_q, c.q_block);
  const int64_t nk = triageattention::num_key_blocks(c.seqlen_k, c.block_size);
  const int hs = c.per_query_head ? c.heads_q : c.heads_kv;
  const int max_blocks = int(nk) + 3;
  std::vector<int32_t> indices(std::size_t(c.batch) * hs * nq * max_blocks, -7);
  std::vector<int32_t> counts(std::size_t(c.batch) * hs * nq, 0);
  std::bernoulli_distribution keep(0.5);
  for (std::size_t row = 0; row < counts.size(); ++row) {
    int n = 0;
    for (int blk = 0; blk < nk; ++blk)
      if (keep(rng)) indices[row * max_blocks + n++] = blk;
    if (row % 3 == 0) indices[row * max_blocks + n++] = int32_t(nk) + 5;  // out of range: no keys
    counts[row] = n;
    if (row % 5 == 4) counts[row] = 0;  // a row with no blocks
  }

  DeviceBuffer d_q(q.bytes()), d_k(k.bytes()), d_v(v.bytes());
  d_q.upload(q.data(), q.bytes());
  d_k.upload(k.data(), k.bytes());
  d_v.upload(v.data(), v.bytes());
  DeviceBuffer d_out(q_elems * 2), d_lse(q_elems / D * 4);
  d_out.fill_bytes(0xFF);  // NaN poison
  d_lse.fill_bytes(0xFF);
  DeviceBuffer d_indices(indices.size() * 4), d_counts(counts.size() * 4);
  d_indices.upload(indices.data(), indices.size() * 4);
  d_counts.upload(counts.data(), counts.size() * 4);

  BlockSparseAttentionParams p;
  p.q = d_q.get();
  p.k = d_k.get();
  p.v = d_v.get();
  p.out = d_out.get();
  p.lse = static_cast<float*>(d_lse.get());
  p.q_strides = q_st;
  p.k_strides = p.v_strides = kv_st;
  p.out_strides = {int64_t(c.heads_q) * c.seqlen_q * D, c.seqlen_q * D, D};
  p.batch = c.batch;
  p.heads_q = c.heads_q;
  p.heads_kv = c.heads_kv;
  p.seqlen_q = c.seqlen_q;
  p.seqlen_k = c.seqlen_k;
  p.head_dim = D;
  p.dtype = c.dtype;
  p.kv_indices = c.dense ? nullptr : static_cast<const int32_t*>(d_indices.get());
  p.kv_counts = static_cast<const int32_t*>(d_counts.get());
  p.pattern_heads = hs;
  p.max_blocks = max_blocks;
  p.block_size = c.block_size;
  p.q_block_size = c.q_block;
  p.causal = c.causal;
  triageattention::block_sparse_attention(p, nullptr);
  TA_EXPECT_CUDA(cudaDeviceSynchronize());

  TypedHost out(c.dtype, q_elems);
  std::vector<float> lse(q_elems / D);
  d_out.download(out.data(), out.bytes());
  d_lse.download(lse.data(), lse.size() * 4);

  triageattention::reference::AttentionShape shape{c.batch, c.heads_q, c.heads_kv, c.seqlen_q, c.seqlen_k, D};
  triageattention::reference::BlockPattern pattern{c.dense ? nullptr : indices.data(), counts.data(), hs, max_blocks,
                                                   c.block_size, c.q_block, c.causal};
  std::vector<float> want(q_elems), want_lse(q_elems / D);
  triageattention::reference::attention(
      shape, q_f.data(), k_f.data(), v_f.data(), 1.f / std::sqrt(float(D)),
      [&](int b, int h, int64_t i, int64_t j) { return pattern.allows(shape, b, h, i, j); },
      want.data(), want_lse.data());

  std::vector<float> got(q_elems);
  for (int64_t i = 0; i < q_elems; ++i) got[i] = out.get(i);
  const double tolerance = c.dtype == DType::kBFloat16 ? 1.0 / 32 : 1.0 / 256;
  EXPECT_LE(max_scaled_error(got, want), tolerance);
  for (std::size_t i = 0; i < lse.size(); ++i) {
    if (std::isinf(want_lse[i])) {
      ASSERT_TRUE(std::isinf(lse[i]) && lse[i] < 0) << "row " << i << " sees no key: lse " << lse[i];
    } else {
      ASSERT_NEAR(lse[i], want_lse[i], 2e-3 * (1 + std::fabs(want_lse[i]))) << "lse of row " << i;
    }
  }
}

class AttentionGrid
    : public ::testing::TestWithParam<std::tuple<DType, int, int, int, bool>> {};

TEST_P(AttentionGrid, MatchesReference) {
  TA_REQUIRE_GPU();
  const auto [dtype, head_dim, block_size, q_block, causal] = GetParam();
  std::mt19937 rng(block_size * 7 + head_dim + q_block + causal);
  Case c;
  c.dtype = dtype;
  c.head_dim = head_dim;
  c.block_size = block_size;
  c.q_block = q_block;
  c.causal = causal;
  run_case(c, rng);  // Sq 113 != Sk 300, GQA 2:1, shared pattern
  c.seqlen_q = c.seqlen_k = 257;
  c.heads_q = 4;
  c.heads_kv = 1;  // MQA
  c.per_query_head = true;
  c.seq_major = true;
  run_case(c, rng);
}

INSTANTIATE_TEST_SUITE_P(, AttentionGrid, attention_grid(), [](const auto& info) {
  return std::apply(grid_case_name, info.param);
});

TEST(Attention, DenseModeAndEdgeLengths) {
  TA_REQUIRE_GPU();
  std::mt19937 rng(99);
  for (bool causal : {false, true}) {
    for (auto [sq, sk] : {std::pair<int64_t, int64_t>{1, 1}, {1, 200}, {200, 1}, {130, 130}, {64, 1000}}) {
      Case c;
      c.dense = true;
      c.causal = causal;
      c.seqlen_q = sq;
      c.seqlen_k = sk;
      c.heads_q = 8;
      c.heads_kv = 1;
      c.batch = 2;
      c.block_size = 32;
      run_case(c, rng);
    }
  }
}

TEST(Attention, NoKeysGivesZerosAndMinusInfinity) {
  TA_REQUIRE_GPU();
  std::mt19937 rng(5);
  Case c;
  c.seqlen_k = 0;
  c.dense = true;
  run_case(c, rng);
}

}  // namespace
