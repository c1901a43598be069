// CPU tests of the triage rule's reference (runs in CI, no GPU): ranking, ties, eligibility,
// forced blocks, group sharing, and bad options. The GPU kernels are compared with it in
// test_triage_gpu.cpp.
#include <cmath>
#include <limits>
#include <vector>

#include "test_util.h"
#include "triageattention/reference.h"

namespace {

using triageattention::reference::AttentionShape;
using triageattention::reference::TriageOptions;

struct Selection {
  std::vector<int32_t> indices, counts;
};

Selection select(const AttentionShape& s, const std::vector<float>& q,
                 const std::vector<float>& k, const TriageOptions& o) {
  Selection r;
  triageattention::reference::triage(s, q.data(), k.data(), o, r.indices, r.counts);
  return r;
}

// D = 2 keys whose block means are (value, 0): block j scores value_j * q0 * scale.
std::vector<float> keys_with_block_values(const std::vector<float>& values, int block_size) {
  std::vector<float> k;
  for (float v : values)
    for (int r = 0; r < block_size; ++r) {
      k.push_back(v);
      k.push_back(0.f);
    }
  return k;
}

TriageOptions options(int topk, int sink = 0, int local = 0) {
  TriageOptions o;
  o.block_size = 16;
  o.q_block_size = 64;
  o.topk = topk;
  o.sink_blocks = sink;
  o.local_blocks = local;
  return o;
}

TEST(TriageReference, KeepsTheHighestScoresAscending) {
  const std::vector<float> values = {0.1f, 3.f, -2.f, 5.f, 0.5f, 4.f};
  AttentionShape s{1, 1, 1, 64, 6 * 16, 2};
  const std::vector<float> q(64 * 2, 1.f);
  const Selection r = select(s, q, keys_with_block_values(values, 16), options(3));
  EXPECT_EQ(r.counts, std::vector<int32_t>({3}));
  EXPECT_EQ(r.indices, std::vector<int32_t>({1, 3, 5}));
}

TEST(TriageReference, TiesGoToTheLowerIndex) {
  AttentionShape s{1, 1, 1, 64, 5 * 16, 2};
  const std::vector<float> q(64 * 2, 1.f);
  const Selection r =
      select(s, q, keys_with_block_values({1.f, 2.f, 1.f, 2.f, 2.f}, 16), options(2));
  EXPECT_EQ(r.indices, std::vector<int32_t>({1, 3}));
}

TEST(TriageReference, TopkAboveEligibleKeepsAllAndPads) {
  AttentionShape s{1, 1, 1, 10, 40, 2};  // 3 key blocks, the last one short
  const std::vector<float> q(10 * 2, 1.f);
  const Selection r = select(s, q, keys_with_block_values({1.f, 2.f, 3.f}, 16), options(8));
  // max_blocks = min(topk, nK) = 3; all kept.
  EXPECT_EQ(r.counts, std::vector<int32_t>({3}));
  EXPECT_EQ(r.indices, std::vector<int32_t>({0, 1, 2}));
}

TEST(TriageReference, CausalEligibilityIsBottomRightAligned) {
  // Sq = 100 queries after 60 cached keys: Sk = 160, 10 key blocks of 16, query blocks of 64.
  // Block 0's last query (63) sees keys <= 123: blocks 0..7 eligible (block 7 starts at 112).
  // Block 1's last query (99) sees every key.
  AttentionShape s{1, 1, 1, 100, 160, 2};
  std::vector<float> values(10);
  for (int j = 0; j < 10; ++j) values[j] = float(j);  // later blocks score higher
  const std::vector<float> q(100 * 2, 1.f);
  TriageOptions o = options(2);
  o.causal = true;
  const Selection r = select(s, q, keys_with_block_values(values, 16), o);
  EXPECT_EQ(r.indices, std::vector<int32_t>({6, 7, 8, 9}));
  EXPECT_EQ(r.counts, std::vector<int32_t>({2, 2}));
}

TEST(TriageReference, CausalRowWithNoVisibleKeyIsEmpty) {
  AttentionShape s{1, 1, 1, 128, 32, 2};  // Sk < Sq: block 0's queries 0..63 see keys <= -33
  const std::vector<float> q(128 * 2, 1.f);
  TriageOptions o = options(4, 1, 1);
  o.causal = true;
  const Selection r = select(s, q, keys_with_block_values({1.f, 1.f}, 16), o);
  EXPECT_EQ(r.counts, std::vector<int32_t>({0, 2}));
  EXPECT_EQ(r.indices, std::vector<int32_t>({-1, -1, 0, 1}));
}

TEST(TriageReference, SinkAndLocalBlocksAreForcedAndCount) {
  // Non-causal, Sq == Sk = 128, one query block of 64 rows at a time: block 0's diagonal key is
  // 63, in key block 3; block 1's is 127, in key block 7.
  std::vector<float> values = {-9.f, -9.f, 5.f, -9.f, 4.f, -9.f, 3.f, -9.f};
  AttentionShape s{1, 1, 1, 128, 128, 2};
  const std::vector<float> q(128 * 2, 1.f);
  const Selection r = select(s, q, keys_with_block_values(values, 16), options(3, 1, 1));
  EXPECT_EQ(r.indices, std::vector<int32_t>({0, 2, 3, 0, 2, 7}));
  // topk smaller than the forced set: the lowest-indexed forced blocks win.
  const Selection tight = select(s, q, keys_with_block_values(values, 16), options(1, 1, 2));
  EXPECT_EQ(tight.indices, std::vector<int32_t>({0, 0}));
}

TEST(TriageReference, SharedPatternTakesTheMaxOverTheGroup) {
  // Two query heads share one kv head: head 0 prefers block 0, head 1 block 2.
  AttentionShape s{1, 2, 1, 64, 48, 2};
  std::vector<float> q(2 * 64 * 2, 0.f);
  for (int r = 0; r < 64; ++r) {
    q[r * 2] = 1.f;             // head 0: (1, 0)
    q[(64 + r) * 2] = -1.f;     // head 1: (-1, 0)
  }
  const std::vector<float> k = keys_with_block_values({2.f, 0.5f, -3.f}, 16);
  TriageOptions o = options(1);
  EXPECT_EQ(select(s, q, k, o).indices, std::vector<int32_t>({2}));  // max(-3*1, 3) wins
  o.share_gqa = false;
  EXPECT_EQ(select(s, q, k, o).indices, std::vector<int32_t>({0, 2}));  // one row per head
}

TEST(TriageReference, NanScoresRankLowest) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  AttentionShape s{1, 1, 1, 64, 48, 2};
  const std::vector<float> q(64 * 2, 1.f);
  const Selection r = select(s, q, keys_with_block_values({nan, -5.f, nan}, 16), options(2));
  EXPECT_EQ(r.indices, std::vector<int32_t>({0, 1}));  // -5 first, then the lower NaN
}

TEST(TriageReference, RejectsBadOptions) {
  AttentionShape s{1, 1, 1, 64, 48, 2};
  const std::vector<float> q(64 * 2, 1.f), k(48 * 2, 1.f);
  TriageOptions o = options(0);
  EXPECT_THROW(select(s, q, k, o), std::invalid_argument);
  o = options(1, -1);
  EXPECT_THROW(select(s, q, k, o), std::invalid_argument);
  AttentionShape gqa{1, 3, 2, 64, 48, 2};
  EXPECT_THROW(select(gqa, q, k, options(1)), std::invalid_argument);
}

}  // namespace
