// CPU tests of the reference attention and of the pattern-to-mask rule (runs in CI, no GPU).
#include <cmath>
#include <vector>

#include "test_util.h"
#include "triageattention/reference.h"

namespace {

using triageattention::reference::AttentionShape;
using triageattention::reference::BlockPattern;

TEST(ReferenceAttention, SingleKeyReturnsItsValueAndLse) {
  AttentionShape s{1, 1, 1, 1, 2, 2};
  const float q[2] = {1, 0}, k[4] = {2, 0, 5, 5}, v[4] = {3, -1, 7, 7};
  float out[2], lse;
  // Only key 0 allowed: out = v0, lse = score = 2 * scale.
  triageattention::reference::attention(s, q, k, v, 0.5f, [](int, int, int64_t, int64_t j) { return j == 0; },
                                        out, &lse);
  EXPECT_FLOAT_EQ(out[0], 3);
  EXPECT_FLOAT_EQ(out[1], -1);
  EXPECT_FLOAT_EQ(lse, 1.f);
}

TEST(ReferenceAttention, EqualScoresAverageValues) {
  AttentionShape s{1, 1, 1, 1, 2, 2};
  const float q[2] = {0, 0}, k[4] = {1, 2, 3, 4}, v[4] = {1, 3, 5, 7};
  float out[2], lse;
  triageattention::reference::attention(s, q, k, v, 1.f, [](int, int, int64_t, int64_t) { return true; }, out, &lse);
  EXPECT_FLOAT_EQ(out[0], 3);
  EXPECT_FLOAT_EQ(out[1], 5);
  EXPECT_NEAR(lse, std::log(2.0), 1e-6);
}

TEST(ReferenceAttention, MaskedRowGivesZeroAndMinusInfinity) {
  AttentionShape s{1, 1, 1, 1, 1, 2};
  const float q[2] = {1, 1}, k[2] = {1, 1}, v[2] = {4, 4};
  float out[2] = {9, 9}, lse = 0;
  triageattention::reference::attention(s, q, k, v, 1.f, [](int, int, int64_t, int64_t) { return false; }, out, &lse);
  EXPECT_EQ(out[0], 0.f);
  EXPECT_TRUE(std::isinf(lse) && lse < 0);
}

TEST(BlockPatternRule, CausalIsBottomRightAligned) {
  AttentionShape s{1, 1, 1, 2, 5, 8};
  BlockPattern dense;
  dense.causal = true;
  // Sq = 2, Sk = 5: query 0 sees keys 0..3, query 1 sees keys 0..4.
  EXPECT_TRUE(dense.allows(s, 0, 0, 0, 3));
  EXPECT_FALSE(dense.allows(s, 0, 0, 0, 4));
  EXPECT_TRUE(dense.allows(s, 0, 0, 1, 4));
}

TEST(BlockPatternRule, CountsGqaSharingAndOutOfRangeIndices) {
  AttentionShape s{1, 4, 2, 4, 8, 8};  // q block 2, key block 2: 2 query blocks, 4 key blocks
  // Pattern heads = heads_kv = 2; rows (h_s, q_block): max_blocks 3.
  const int32_t indices[12] = {1, 3, 0,  /* h0 qb0 */ 2, 9, 0, /* h0 qb1 */
                               0, 0, 0,  /* h1 qb0 */ 3, 1, 2 /* h1 qb1 */};
  const int32_t counts[4] = {2, 2, 0, 9};  // 9 is clamped to max_blocks
  BlockPattern p{indices, counts, 2, 3, 2, 2, false};
  EXPECT_TRUE(p.allows(s, 0, 1, 0, 3));    // q head 1 -> kv head 0; key 3 in block 1
  EXPECT_FALSE(p.allows(s, 0, 1, 0, 0));   // block 0 is past the count (third entry)
  EXPECT_TRUE(p.allows(s, 0, 0, 2, 5));    // block 2
  EXPECT_FALSE(p.allows(s, 0, 0, 2, 7));   // entry 9 is out of range: selects nothing
  EXPECT_FALSE(p.allows(s, 0, 2, 1, 0));   // kv head 1, q block 0: count 0
  EXPECT_TRUE(p.allows(s, 0, 3, 3, 4));    // kv head 1, q block 1: count clamped to 3
}

}  // namespace
