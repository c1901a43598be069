// Host-side argument checks of triage (runs in CI, no GPU).
#include <string>

#include "test_util.h"
#include "triageattention/triage.h"

namespace {

using triageattention::DType;
using triageattention::TriageParams;

alignas(16) char g_buffer[64];
alignas(16) int32_t g_pattern[16];

TriageParams valid_params() {
  TriageParams p;
  p.q = p.k = g_buffer;
  p.batch = 1;
  p.heads_q = 8;
  p.heads_kv = 2;
  p.seqlen_q = p.seqlen_k = 1024;
  p.head_dim = 128;
  p.q_strides = p.k_strides = {8 * 1024 * 128, 1024 * 128, 128};
  p.block_size = 64;
  p.q_block_size = 128;
  p.topk = 4;
  p.kv_indices = g_pattern;
  p.kv_counts = g_pattern;
  return p;
}

void expect_rejected(const TriageParams& p, const std::string& needle) {
  ta_test::expect_rejected_by(triageattention::check_triage_params, p, needle);
}

TEST(TriageParams, ValidParamsPass) {
  EXPECT_NO_THROW(triageattention::check_triage_params(valid_params()));
}

TEST(TriageParams, EachBadArgumentIsNamed) {
  TriageParams p;
  p = valid_params(); p.dtype = DType::kFloat32; expect_rejected(p, "dtype must be float16 or bfloat16");
  p = valid_params(); p.head_dim = 100; expect_rejected(p, "head_dim must be a multiple of 8");
  p = valid_params(); p.head_dim = 512; expect_rejected(p, "head_dim must be a multiple of 8");
  p = valid_params(); p.heads_q = 6; p.heads_kv = 4; expect_rejected(p, "multiple of heads_kv");
  p = valid_params(); p.heads_kv = 0; expect_rejected(p, "heads_kv >= 1");
  p = valid_params(); p.seqlen_k = -1; expect_rejected(p, "seqlen_q and seqlen_k");
  p = valid_params(); p.block_size = 48; expect_rejected(p, "block_size must be 16, 32, 64 or 128");
  p = valid_params(); p.q_block_size = 32; expect_rejected(p, "q_block_size must be 64 or 128");
  p = valid_params(); p.topk = 0; expect_rejected(p, "topk must be >= 1");
  p = valid_params(); p.sink_blocks = -1; expect_rejected(p, "sink_blocks and local_blocks");
  p = valid_params(); p.local_blocks = -2; expect_rejected(p, "sink_blocks and local_blocks");
  p = valid_params(); p.scale = -1.f; expect_rejected(p, "scale must be positive");
  p = valid_params(); p.q = nullptr; expect_rejected(p, "q must be non-null");
  p = valid_params(); p.k = g_buffer + 2; expect_rejected(p, "k must be 16-byte aligned");
  p = valid_params(); p.q_strides.seq = 100; expect_rejected(p, "q strides must be positive multiples of 8");
  p = valid_params(); p.k_strides.head = 0; expect_rejected(p, "k strides must be positive multiples of 8");
  p = valid_params(); p.kv_counts = nullptr; expect_rejected(p, "kv_counts must be");
  p = valid_params(); p.kv_indices = nullptr; expect_rejected(p, "kv_indices must be");
}

TEST(TriageParams, PatternShapeHelpers) {
  TriageParams p = valid_params();
  EXPECT_EQ(triageattention::triage_max_blocks(p), 4);
  p.topk = 100;
  EXPECT_EQ(triageattention::triage_max_blocks(p), 16);  // ceil(1024 / 64) key blocks
  p.seqlen_k = 1000;
  EXPECT_EQ(triageattention::triage_max_blocks(p), 16);
  EXPECT_EQ(triageattention::triage_pattern_heads(p), 2);
  p.share_gqa = false;
  EXPECT_EQ(triageattention::triage_pattern_heads(p), 8);
}

TEST(TriageParams, EmptyProblemsNeedNoPointers) {
  TriageParams p = valid_params();
  p.batch = 0;
  p.q = p.k = nullptr;
  p.kv_indices = p.kv_counts = nullptr;
  EXPECT_NO_THROW(triageattention::check_triage_params(p));
}

}  // namespace
