// Host-side argument checks of the KV-cache decode family (runs in CI, no GPU).
#include <string>

#include "../../csrc/decode/decode_launch.h"  // the split rule (internal, host-only)
#include "test_util.h"
#include "triageattention/decode.h"

namespace {

using triageattention::DType;
using triageattention::PagedAppendParams;
using triageattention::PagedKVCacheView;
using triageattention::SparseDecodeParams;

alignas(256) char g_buffer[1 << 16];
alignas(16) int32_t g_ints[64];
alignas(16) float g_floats[64];

PagedKVCacheView valid_cache() {
  PagedKVCacheView c;
  c.k_cache = c.v_cache = g_buffer;
  c.k_min = c.k_max = g_floats;
  c.page_table = g_ints;
  c.seqlens = g_ints;
  c.batch = 2;
  c.heads_kv = 2;
  c.head_dim = 128;
  c.page_size = 64;
  c.max_pages = 8;
  c.num_pages = 16;
  return c;
}

SparseDecodeParams valid_decode() {
  SparseDecodeParams p;
  p.q = p.out = g_buffer;
  p.q_strides = p.out_strides = {8 * 2 * 128, 2 * 128, 128};
  p.heads_q = 8;
  p.seqlen_q = 2;
  p.topk = 4;
  p.workspace = g_buffer;
  p.workspace_bytes = sizeof(g_buffer);
  return p;
}

PagedAppendParams valid_append() {
  PagedAppendParams p;
  p.k_new = p.v_new = g_buffer;
  p.k_strides = p.v_strides = {2 * 5 * 128, 5 * 128, 128};
  p.new_tokens = 5;
  return p;
}

void expect_decode_rejected(const PagedKVCacheView& c, const SparseDecodeParams& p,
                            const std::string& needle) {
  ta_test::expect_rejected_by(
      [&](const SparseDecodeParams& q) { triageattention::check_sparse_decode_params(c, q); }, p,
      needle);
}

void expect_append_rejected(const PagedKVCacheView& c, const PagedAppendParams& p,
                            const std::string& needle) {
  ta_test::expect_rejected_by(
      [&](const PagedAppendParams& q) { triageattention::check_paged_kv_append(c, q); }, p,
      needle);
}

TEST(DecodeParams, ValidParametersPass) {
  ASSERT_LE(triageattention::sparse_decode_workspace_bytes(2, 2, 8, 2, 8, 128), sizeof(g_buffer));
  EXPECT_NO_THROW(triageattention::check_sparse_decode_params(valid_cache(), valid_decode()));
  EXPECT_NO_THROW(triageattention::check_paged_kv_append(valid_cache(), valid_append()));
}

TEST(DecodeParams, EachBadCacheFieldIsNamed) {
  const SparseDecodeParams p = valid_decode();
  PagedKVCacheView c;
  c = valid_cache(); c.dtype = DType::kFloat32; expect_decode_rejected(c, p, "dtype");
  c = valid_cache(); c.head_dim = 96; expect_decode_rejected(c, p, "head_dim");
  c = valid_cache(); c.page_size = 8; expect_decode_rejected(c, p, "page_size");
  c = valid_cache(); c.page_size = 48; expect_decode_rejected(c, p, "page_size");
  c = valid_cache(); c.page_size = 256; expect_decode_rejected(c, p, "page_size");
  c = valid_cache(); c.heads_kv = 0; expect_decode_rejected(c, p, "heads_kv");
  c = valid_cache(); c.max_pages = 0; expect_decode_rejected(c, p, "max_pages");
  c = valid_cache(); c.num_pages = 0; expect_decode_rejected(c, p, "num_pages");
  c = valid_cache(); c.batch = -1; expect_decode_rejected(c, p, "batch");
  c = valid_cache(); c.k_cache = nullptr; expect_decode_rejected(c, p, "k_cache");
  c = valid_cache(); c.v_cache = g_buffer + 8; expect_decode_rejected(c, p, "16-byte aligned");
  c = valid_cache(); c.k_max = nullptr; expect_decode_rejected(c, p, "k_max");
  c = valid_cache(); c.page_table = nullptr; expect_decode_rejected(c, p, "page_table");
  c = valid_cache(); c.seqlens = nullptr; expect_decode_rejected(c, p, "seqlens");
  c = valid_cache(); c.max_pages = 1 << 28; expect_decode_rejected(c, p, "max_pages * page_size");
}

TEST(DecodeParams, EachBadDecodeArgumentIsNamed) {
  const PagedKVCacheView c = valid_cache();
  SparseDecodeParams p;
  p = valid_decode(); p.heads_q = 7; expect_decode_rejected(c, p, "multiple of heads_kv");
  p = valid_decode(); p.seqlen_q = 0; expect_decode_rejected(c, p, "seqlen_q");
  p = valid_decode(); p.seqlen_q = 9; expect_decode_rejected(c, p, "seqlen_q");
  p = valid_decode(); p.topk = 0; expect_decode_rejected(c, p, "topk");
  p = valid_decode(); p.sink_pages = -1; expect_decode_rejected(c, p, "sink_pages");
  p = valid_decode(); p.scale = -1.f; expect_decode_rejected(c, p, "scale");
  p = valid_decode(); p.q = nullptr; expect_decode_rejected(c, p, "q must be non-null");
  p = valid_decode(); p.q = g_buffer + 2; expect_decode_rejected(c, p, "q must be 4-byte aligned");
  p = valid_decode(); p.out_strides.seq = 127; expect_decode_rejected(c, p, "out strides");
  p = valid_decode(); p.lse = reinterpret_cast<float*>(g_buffer + 2);
  expect_decode_rejected(c, p, "lse");
  p = valid_decode(); p.workspace = nullptr; expect_decode_rejected(c, p, "workspace");
  p = valid_decode(); p.workspace = g_buffer + 16; expect_decode_rejected(c, p, "256-byte");
  p = valid_decode(); p.workspace_bytes = 64; expect_decode_rejected(c, p, "workspace_bytes");
}

TEST(DecodeParams, EachBadAppendArgumentIsNamed) {
  const PagedKVCacheView c = valid_cache();
  PagedAppendParams p;
  p = valid_append(); p.new_tokens = -1; expect_append_rejected(c, p, "new_tokens");
  p = valid_append(); p.k_new = nullptr; expect_append_rejected(c, p, "k_new must be non-null");
  p = valid_append(); p.v_new = g_buffer + 4; expect_append_rejected(c, p, "v_new must be 16-byte");
  p = valid_append(); p.k_strides.seq = 100; expect_append_rejected(c, p, "k_new strides");
  p = valid_append(); p.v_strides.head = 0; expect_append_rejected(c, p, "v_new strides");
  p = valid_append(); p.new_lens = reinterpret_cast<const int32_t*>(g_buffer + 2);
  expect_append_rejected(c, p, "new_lens");
  PagedKVCacheView bad = c;
  bad.page_size = 24;
  expect_append_rejected(bad, valid_append(), "page_size");
  // Nothing to write: the new-token tensors are not needed.
  p = valid_append();
  p.new_tokens = 0;
  p.k_new = p.v_new = nullptr;
  EXPECT_NO_THROW(triageattention::check_paged_kv_append(c, p));
}

TEST(DecodeParams, WorkspaceDependsOnShapesOnly) {
  using triageattention::sparse_decode_workspace_bytes;
  const std::size_t a = sparse_decode_workspace_bytes(8, 8, 32, 1, 512, 128);
  EXPECT_EQ(a, sparse_decode_workspace_bytes(8, 8, 32, 1, 512, 128));
  EXPECT_EQ(a % 256, 0u);
  EXPECT_LE(a, sparse_decode_workspace_bytes(8, 8, 32, 1, 1024, 128));
  EXPECT_LT(sparse_decode_workspace_bytes(8, 8, 32, 1, 512, 64), a);
  EXPECT_NO_THROW(sparse_decode_workspace_bytes(0, 8, 32, 1, 512, 128));  // an empty batch is fine
  auto rejected = [](auto call, const std::string& needle) {
    try {
      call();
      ADD_FAILURE() << "accepted, expected an error naming '" << needle << "'";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  rejected([] { sparse_decode_workspace_bytes(1, 3, 8, 1, 16, 128); }, "heads_q");
  rejected([] { sparse_decode_workspace_bytes(1, 2, 8, 9, 16, 128); }, "seqlen_q");
  rejected([] { sparse_decode_workspace_bytes(1, 2, 8, 1, 16, 96); }, "head_dim");
  rejected([] { sparse_decode_workspace_bytes(1, 2, 8, 1, 0, 128); }, "max_pages");
}

TEST(DecodeParams, SelectionNeedsItsOutputs) {
  ta_test::expect_rejected_by(
      [](const SparseDecodeParams& p) {
        triageattention::select_decode_pages(valid_cache(), p, nullptr, g_ints, g_floats, nullptr);
      },
      valid_decode(), "indices, counts and scores must be non-null");
}

// Split-KV CTAs: up to the mode's target (two per SM sparse, one per SM dense) when there are
// fewer (sequence, kv head, row block) units than that, never under kMinSplitTokens tokens per
// split, monotone in the visited tokens, and never more dense than sparse (the workspace is
// sized with the sparse count).
TEST(DecodeParams, SplitsFillOneWaveAndKeepSplitsLong) {
  using triageattention::decode::kMinSplitTokens;
  using triageattention::decode::kTargetCtasDense;
  using triageattention::decode::kTargetCtasSparse;
  using triageattention::decode::num_splits;
  using triageattention::decode::row_blocks;
  const int blocks = row_blocks(32, 8, 1);  // 4 query heads per kv head, one new token
  EXPECT_EQ(blocks, 1);
  EXPECT_EQ(row_blocks(32, 8, 8), 2);  // 32 rows: two 16-row tiles
  // Sparse B8 Hkv8, 1/8 of 32k tokens: 64 units, 4 splits of 1024 tokens = 256 CTAs.
  EXPECT_EQ(num_splits(8, 8, blocks, 4096, false), 4);
  // Sparse B1 Hkv8, 1/8 of 128k: 8 units, 16 splits of 1024 tokens (not 32 of 512).
  EXPECT_EQ(num_splits(1, 8, blocks, 16384, false), 16);
  // Dense B8 at 32k and B1 at 128k: one CTA per SM, 2 and 16 splits.
  EXPECT_EQ(num_splits(8, 8, blocks, 32768, true), 2);
  EXPECT_EQ(num_splits(1, 8, blocks, 131072, true), 16);
  // Enough units for a wave: no split. Short visits: no split under kMinSplitTokens.
  EXPECT_EQ(num_splits(64, 8, blocks, 4096, false), 1);
  EXPECT_EQ(num_splits(64, 8, blocks, 4096, true), 1);
  for (bool dense : {false, true}) {
    EXPECT_EQ(num_splits(1, 1, 1, kMinSplitTokens, dense), 1);
    EXPECT_EQ(num_splits(1, 1, 1, kMinSplitTokens + 1, dense), 2);
    EXPECT_EQ(num_splits(1, 1, 1, 0, dense), 1);
    EXPECT_EQ(num_splits(0, 8, blocks, 4096, dense), 1);
  }
  for (int batch : {1, 2, 3, 8, 17, 64}) {
    for (int heads_kv : {1, 2, 8}) {
      int previous[2] = {0, 0};
      for (int64_t tokens : {1, 1023, 1024, 1025, 4096, 32768, 131072, 1 << 20}) {
        for (bool dense : {false, true}) {
          const int splits = num_splits(batch, heads_kv, blocks, tokens, dense);
          const int64_t units = int64_t(batch) * heads_kv * blocks;
          EXPECT_GE(splits, 1);
          EXPECT_GE(splits, previous[dense]) << "monotone in tokens";
          if (splits > 1) {
            EXPECT_LE(units * splits, dense ? kTargetCtasDense : kTargetCtasSparse)
                << batch << " x " << heads_kv;
            EXPECT_GE(tokens, int64_t(splits - 1) * kMinSplitTokens + 1);
          }
          previous[dense] = splits;
        }
        EXPECT_LE(num_splits(batch, heads_kv, blocks, tokens, true),
                  num_splits(batch, heads_kv, blocks, tokens, false))
            << "dense never needs more partials than the workspace holds";
      }
    }
  }
}

// The selection's early L2 prefetch: one page per 32-page stretch at most, every stride-th
// stretch, so the bytes stay under kPrefetchBudget; none under two expected winners per stretch.
TEST(DecodeParams, PrefetchStaysUnderItsBudget) {
  using triageattention::decode::kPrefetchBudget;
  using triageattention::decode::kPrefetchSpan;
  using triageattention::decode::prefetch_stride;
  // Sparse B8 Hkv8 D128, page 64, topk 1/8: 32k (16 stretches, 32 KB of K and V per page) takes
  // every stretch; 64k every other one; B1 at 128k every one.
  EXPECT_EQ(prefetch_stride(8, 8, 512, 64, 128, 64), 1);
  EXPECT_EQ(prefetch_stride(8, 8, 1024, 64, 128, 128), 2);
  EXPECT_EQ(prefetch_stride(1, 8, 2048, 64, 128, 256), 1);
  // Fewer than two winners per stretch, or not one page per pair in the budget: none.
  EXPECT_EQ(prefetch_stride(8, 8, 512, 64, 128, 31), 0);
  EXPECT_EQ(prefetch_stride(1024, 8, 512, 128, 128, 64), 0);
  EXPECT_EQ(prefetch_stride(0, 8, 512, 64, 128, 64), 0);
  for (int batch : {1, 3, 8, 64})
    for (int max_pages : {1, 33, 512, 2048, 16385})
      for (int page_size : {16, 64, 128})
        for (int head_dim : {64, 128})
          for (int topk : {1, 16, 64, 256, 4096}) {
            const int stride = prefetch_stride(batch, 8, max_pages, page_size, head_dim, topk);
            ASSERT_GE(stride, 0);
            if (stride == 0) continue;
            const int64_t spans = (max_pages + kPrefetchSpan - 1) / kPrefetchSpan;
            EXPECT_GE(topk, 2 * spans);
            const int64_t pages = (spans + stride - 1) / stride;  // per (sequence, kv head)
            EXPECT_LE(int64_t(batch) * 8 * pages * 2 * page_size * head_dim * 2, kPrefetchBudget)
                << batch << " " << max_pages << " " << page_size << " " << head_dim;
            if (stride > 1)  // no smaller stride would fit
              EXPECT_GT(int64_t(batch) * 8 * ((spans + stride - 2) / (stride - 1)) * 2 * page_size *
                            head_dim * 2,
                        kPrefetchBudget);
          }
}

}  // namespace
