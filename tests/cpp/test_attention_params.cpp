// Host-side argument checks of block-sparse attention (runs in CI, no GPU).
#include <string>

#include "test_util.h"
#include "triageattention/attention.h"

namespace {

using triageattention::BlockSparseAttentionParams;
using triageattention::DType;

alignas(16) char g_buffer[64];
alignas(16) int32_t g_pattern[16];

BlockSparseAttentionParams valid_params() {
  BlockSparseAttentionParams p;
  p.q = p.k = p.v = g_buffer;
  p.out = g_buffer;
  p.batch = 1;
  p.heads_q = 8;
  p.heads_kv = 2;
  p.seqlen_q = p.seqlen_k = 1024;
  p.head_dim = 128;
  p.q_strides = p.k_strides = p.v_strides = p.out_strides = {8 * 1024 * 128, 1024 * 128, 128};
  p.kv_indices = g_pattern;
  p.kv_counts = g_pattern;
  p.pattern_heads = 2;
  p.max_blocks = 8;
  p.block_size = 128;
  p.q_block_size = 128;
  return p;
}

void expect_rejected(const BlockSparseAttentionParams& p, const std::string& needle) {
  ta_test::expect_rejected_by(triageattention::check_block_sparse_attention_params, p, needle);
}

TEST(AttentionParams, EachBadArgumentIsNamed) {
  BlockSparseAttentionParams p;
  p = valid_params(); p.heads_q = 7; p.heads_kv = 4; expect_rejected(p, "multiple of heads_kv");
  p = valid_params(); p.head_dim = 96; expect_rejected(p, "head_dim");
  p = valid_params(); p.dtype = DType::kFloat32; expect_rejected(p, "dtype");
  p = valid_params(); p.block_size = 8; expect_rejected(p, "block_size");
  p = valid_params(); p.q_block_size = 32; expect_rejected(p, "q_block_size");
  p = valid_params(); p.pattern_heads = 4; expect_rejected(p, "pattern heads");
  p = valid_params(); p.kv_counts = nullptr; expect_rejected(p, "kv_counts");
  p = valid_params(); p.max_blocks = -1; expect_rejected(p, "max_blocks");
  p = valid_params(); p.scale = -1.f; expect_rejected(p, "scale");
  p = valid_params(); p.q = nullptr; expect_rejected(p, "q must be non-null");
  p = valid_params(); p.k = g_buffer + 2; expect_rejected(p, "k must be 16-byte aligned");
  p = valid_params(); p.v_strides.seq = 100; expect_rejected(p, "v strides");
  p = valid_params(); p.k_strides.head = 0; expect_rejected(p, "k strides");  // no broadcast
  p = valid_params(); p.seqlen_k = -1; expect_rejected(p, "seqlen");
}

TEST(AttentionParams, ValidParametersPass) {
  BlockSparseAttentionParams p = valid_params();
  if (!triageattention::attention_is_built(p.dtype, p.head_dim, p.q_block_size)) GTEST_SKIP();
  EXPECT_NO_THROW(triageattention::check_block_sparse_attention_params(p));
  p.batch = 1;
  p.q_strides.batch = 0;  // any stride is fine on a dimension of extent 1
  EXPECT_NO_THROW(triageattention::check_block_sparse_attention_params(p));
}

TEST(AttentionParams, BuiltConfigurationsAreReported) {
  EXPECT_FALSE(triageattention::attention_is_built(DType::kFloat32, 128, 128));
  EXPECT_FALSE(triageattention::attention_is_built(DType::kBFloat16, 96, 128));
}

}  // namespace
