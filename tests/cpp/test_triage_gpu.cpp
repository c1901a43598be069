// GPU tests of triage: the selection must equal the CPU reference index for index, on random and
// adversarial inputs (ties, topk above the eligible count, one-block sequences, causal with
// Sq != Sk, the workspace-scratch path for very many key blocks). Skipped without a Hopper GPU.
#include <sstream>
#include <tuple>
#include <vector>

#include "test_util.h"
#include "triageattention/reference.h"
#include "triageattention/triage.h"

namespace {

using namespace ta_test;
using triageattention::TriageParams;

struct Case {
  DType dtype = DType::kBFloat16;
  int head_dim = 128;
  int block_size = 64;
  int q_block = 128;
  int topk = 4;
  bool causal = false;
  bool share_gqa = true;
  int sink = 1, local = 1;
  int batch = 2, heads_q = 4, heads_kv = 2;
  int64_t seqlen_q = 300, seqlen_k = 1000;
  bool tied_keys = false;  // every key row equal: every score ties
};

std::string describe(const Case& c) {
  std::ostringstream s;
  s << triageattention::dtype_name(c.dtype) << " D" << c.head_dim << " bs" << c.block_size << " qb"
    << c.q_block << " topk" << c.topk << (c.causal ? " causal" : "") << (c.share_gqa ? "" : " per-head")
    << " sink" << c.sink << " local" << c.local << " B" << c.batch << " H" << c.heads_q << "/"
    << c.heads_kv << " Sq" << c.seqlen_q << " Sk" << c.seqlen_k << (c.tied_keys ? " tied" : "");
  return s.str();
}

struct Result {
  std::vector<int32_t> indices, counts;
};

// Runs the GPU selection on outputs poisoned with 0x7f bytes.
Result run_gpu(const Case& c, const TypedHost& q, const TypedHost& k) {
  TriageParams p;
  DeviceBuffer d_q(q.bytes()), d_k(k.bytes());
  d_q.upload(q.data(), q.bytes());
  d_k.upload(k.data(), k.bytes());
  p.q = d_q.get();
  p.k = d_k.get();
  const int D = c.head_dim;
  p.q_strides = {int64_t(c.heads_q) * c.seqlen_q * D, c.seqlen_q * D, D};
  p.k_strides = {int64_t(c.heads_kv) * c.seqlen_k * D, c.seqlen_k * D, D};
  p.batch = c.batch;
  p.heads_q = c.heads_q;
  p.heads_kv = c.heads_kv;
  p.seqlen_q = c.seqlen_q;
  p.seqlen_k = c.seqlen_k;
  p.head_dim = D;
  p.dtype = c.dtype;
  p.block_size = c.block_size;
  p.q_block_size = c.q_block;
  p.topk = c.topk;
  p.causal = c.causal;
  p.sink_blocks = c.sink;
  p.local_blocks = c.local;
  p.share_gqa = c.share_gqa;
  const std::size_t rows = std::size_t(c.batch) * triageattention::triage_pattern_heads(p) *
                           triageattention::num_query_blocks(c.seqlen_q, c.q_block);
  const std::size_t max_blocks = triageattention::triage_max_blocks(p);
  DeviceBuffer d_indices(std::max<std::size_t>(rows * max_blocks * 4, 4));
  DeviceBuffer d_counts(rows * 4);
  d_indices.fill_bytes(0x7f);
  d_counts.fill_bytes(0x7f);
  p.kv_indices = static_cast<int32_t*>(d_indices.get());
  p.kv_counts = static_cast<int32_t*>(d_counts.get());
  const std::size_t ws_bytes = triageattention::triage_workspace_bytes(p);
  DeviceBuffer workspace(std::max<std::size_t>(ws_bytes, 256));
  workspace.fill_bytes(0xff);  // NaN: the kernels must write every mean they read
  triageattention::triage(p, workspace.get(), ws_bytes, nullptr);
  EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  Result r;
  r.indices.resize(rows * max_blocks);
  r.counts.resize(rows);
  d_indices.download(r.indices.data(), r.indices.size() * 4);
  d_counts.download(r.counts.data(), r.counts.size() * 4);
  return r;
}

void run_case(const Case& c, std::mt19937& rng) {
  SCOPED_TRACE(describe(c));
  const int D = c.head_dim;
  std::vector<float> q_f, k_f;
  TypedHost q = random_typed(c.dtype, std::size_t(c.batch) * c.heads_q * c.seqlen_q * D, rng, &q_f);
  TypedHost k = random_typed(c.dtype, std::size_t(c.batch) * c.heads_kv * c.seqlen_k * D, rng, &k_f);
  if (c.tied_keys) {
    for (std::size_t i = 0; i < k_f.size(); ++i) {
      k.set(i, k_f[i % D]);
      k_f[i] = k.get(i);
    }
  }
  const Result got = run_gpu(c, q, k);

  triageattention::reference::AttentionShape shape{c.batch, c.heads_q, c.heads_kv, c.seqlen_q, c.seqlen_k, D};
  triageattention::reference::TriageOptions o;
  o.block_size = c.block_size;
  o.q_block_size = c.q_block;
  o.topk = c.topk;
  o.causal = c.causal;
  o.sink_blocks = c.sink;
  o.local_blocks = c.local;
  o.share_gqa = c.share_gqa;
  Result want;
  triageattention::reference::triage(shape, q_f.data(), k_f.data(), o, want.indices, want.counts);
  ASSERT_EQ(got.counts, want.counts);
  ASSERT_EQ(got.indices, want.indices);
}

class TriageGrid : public ::testing::TestWithParam<std::tuple<DType, int, int, int, bool>> {};

TEST_P(TriageGrid, EqualsReference) {
  TA_REQUIRE_GPU();
  const auto [dtype, head_dim, block_size, q_block, causal] = GetParam();
  std::mt19937 rng(block_size * 3 + head_dim + q_block + causal);
  Case c;
  c.dtype = dtype;
  c.head_dim = head_dim;
  c.block_size = block_size;
  c.q_block = q_block;
  c.causal = causal;
  for (int topk : {1, 3, 8, 1000}) {
    c.topk = topk;
    run_case(c, rng);  // shared GQA 2:1, Sq 300 != Sk 1000
  }
  c.topk = 5;
  c.share_gqa = false;
  c.heads_q = 8;
  c.heads_kv = 1;  // MQA, one pattern per query head
  c.seqlen_q = c.seqlen_k = 777;
  run_case(c, rng);
  c.share_gqa = true;  // 8 heads fold into one row
  c.sink = 2;
  c.local = 3;
  run_case(c, rng);
}

INSTANTIATE_TEST_SUITE_P(, TriageGrid, attention_grid(), [](const auto& info) {
  return std::apply(grid_case_name, info.param);
});

TEST(Triage, AdversarialInputs) {
  TA_REQUIRE_GPU();
  std::mt19937 rng(17);
  Case c;
  c.tied_keys = true;  // every score ties: the lowest indices win
  run_case(c, rng);
  c.causal = true;
  run_case(c, rng);
  c.tied_keys = false;
  for (auto [sq, sk] : {std::pair<int64_t, int64_t>{1, 1}, {1, 5000}, {5000, 1}, {129, 64}, {64, 129}}) {
    for (bool causal : {false, true}) {
      c.seqlen_q = sq;
      c.seqlen_k = sk;
      c.causal = causal;
      c.topk = 3;
      run_case(c, rng);
    }
  }
  c = Case();
  c.sink = c.local = 0;  // nothing forced
  c.head_dim = 64;
  run_case(c, rng);
  for (int head_dim : {256, 40}) {  // triage takes head dims the attention kernel does not
    c.head_dim = head_dim;
    run_case(c, rng);
  }
}

TEST(Triage, ManyKeyBlocksUseTheWorkspaceScratch) {
  TA_REQUIRE_GPU();
  std::mt19937 rng(23);
  Case c;
  c.batch = 1;
  c.heads_q = 2;
  c.heads_kv = 1;
  c.head_dim = 64;
  c.block_size = 16;
  c.seqlen_q = 300;
  c.seqlen_k = 700001;  // 43751 key blocks: the score rows exceed shared memory
  c.topk = 37;
  run_case(c, rng);
  c.causal = true;
  run_case(c, rng);
}

TEST(Triage, DeterministicAcrossRuns) {
  TA_REQUIRE_GPU();
  std::mt19937 rng(31);
  Case c;
  c.seqlen_q = c.seqlen_k = 4097;
  c.block_size = 16;
  c.topk = 20;
  std::vector<float> q_f, k_f;
  TypedHost q = random_typed(c.dtype, std::size_t(c.batch) * c.heads_q * c.seqlen_q * c.head_dim, rng, &q_f);
  TypedHost k = random_typed(c.dtype, std::size_t(c.batch) * c.heads_kv * c.seqlen_k * c.head_dim, rng, &k_f);
  const Result first = run_gpu(c, q, k);
  for (int run = 0; run < 5; ++run) {
    const Result again = run_gpu(c, q, k);
    ASSERT_EQ(again.indices, first.indices);
    ASSERT_EQ(again.counts, first.counts);
  }
}

}  // namespace
