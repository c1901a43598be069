// The CPU reference of the decode page selection on adversarial cases (runs in CI, no GPU).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "triageattention/reference_decode.h"

namespace {

using triageattention::reference::DecodeSelectionShape;

// One sequence-batch selection problem with identity page tables unless changed.
struct Problem {
  DecodeSelectionShape s;
  std::vector<float> q, k_min, k_max, scores;
  std::vector<int32_t> table, seqlens, indices, counts;

  Problem(int batch, int heads_q, int heads_kv, int seqlen_q, int head_dim, int page_size,
          int max_pages) {
    s = {batch, heads_q, heads_kv, seqlen_q, head_dim, page_size, max_pages,
         int64_t(batch) * max_pages};
    q.assign(std::size_t(batch) * heads_q * seqlen_q * head_dim, 1.f);
    k_min.assign(std::size_t(s.num_pages) * heads_kv * head_dim, 0.f);
    k_max = k_min;
    table.resize(std::size_t(batch) * max_pages);
    for (std::size_t i = 0; i < table.size(); ++i) table[i] = int32_t(i);
    seqlens.assign(batch, max_pages * page_size);
    scores.assign(std::size_t(batch) * heads_kv * max_pages, NAN);
    indices.assign(scores.size(), -2);
    counts.assign(std::size_t(batch) * heads_kv, -2);
  }
  // Sets summary (min = max = value) of physical page `phys`, kv head h, every d.
  void set_page(int64_t phys, int h, float value) {
    for (int d = 0; d < s.head_dim; ++d)
      k_min[(phys * s.heads_kv + h) * s.head_dim + d] =
          k_max[(phys * s.heads_kv + h) * s.head_dim + d] = value;
  }
  void select(int topk, int sink) {
    triageattention::reference::select_decode_pages(s, q.data(), k_min.data(), k_max.data(),
                                                    table.data(), seqlens.data(), topk, sink,
                                                    scores.data(), indices.data(), counts.data());
  }
  std::vector<int32_t> chosen(int b, int h) const {
    const auto* row = &indices[(std::size_t(b) * s.heads_kv + h) * s.max_pages];
    const int count = counts[std::size_t(b) * s.heads_kv + h];
    for (int i = count; i < s.max_pages; ++i) EXPECT_EQ(row[i], -1) << "padding at " << i;
    return std::vector<int32_t>(row, row + count);
  }
};

using Pages = std::vector<int32_t>;

TEST(DecodeReference, TiesGoToTheLowerIndex) {
  Problem p(1, 2, 1, 1, 64, 16, 10);
  p.select(5, 1);  // all scores 0: sink 0, last 9, then 1, 2, 3
  EXPECT_EQ(p.chosen(0, 0), (Pages{0, 1, 2, 3, 9}));
}

TEST(DecodeReference, BestScoresWinAndForcedPagesCount) {
  Problem p(1, 2, 1, 1, 64, 16, 10);
  p.set_page(6, 0, 2.f);
  p.set_page(3, 0, 1.f);
  p.set_page(4, 0, 1.f);
  p.select(4, 1);  // forced 0 and 9, then 6, then 3 (ties with 4, lower index)
  EXPECT_EQ(p.chosen(0, 0), (Pages{0, 3, 6, 9}));
  EXPECT_FLOAT_EQ(p.scores[6], 2.f * 64);
  p.select(2, 1);  // only the forced pages fit
  EXPECT_EQ(p.chosen(0, 0), (Pages{0, 9}));
  p.select(1, 1);  // fewer than the forced pages: the lower-indexed forced page wins
  EXPECT_EQ(p.chosen(0, 0), (Pages{0}));
  p.select(1, 0);  // no sink: the last page alone
  EXPECT_EQ(p.chosen(0, 0), (Pages{9}));
  p.select(3, 0);
  EXPECT_EQ(p.chosen(0, 0), (Pages{3, 6, 9}));
}

TEST(DecodeReference, TopkBeyondThePagesKeepsEveryPage) {
  Problem p(2, 4, 2, 2, 64, 32, 6);
  p.seqlens = {6 * 32 - 5, 2 * 32 + 1};  // 6 and 3 pages
  p.select(100, 1);
  EXPECT_EQ(p.chosen(0, 1), (Pages{0, 1, 2, 3, 4, 5}));
  EXPECT_EQ(p.chosen(1, 0), (Pages{0, 1, 2}));
}

TEST(DecodeReference, ShortAndEmptySequences) {
  Problem p(4, 2, 1, 1, 64, 64, 4);
  p.seqlens = {1, 63, 0, -7};  // one token, one short page, empty, negative (clamped to 0)
  p.select(3, 2);
  EXPECT_EQ(p.chosen(0, 0), (Pages{0}));
  EXPECT_EQ(p.chosen(1, 0), (Pages{0}));
  EXPECT_EQ(p.chosen(2, 0), (Pages{}));
  EXPECT_EQ(p.chosen(3, 0), (Pages{}));
}

TEST(DecodeReference, LengthsPastCapacityAreClamped) {
  Problem p(1, 1, 1, 1, 64, 16, 3);
  p.seqlens = {1000};
  p.select(10, 1);
  EXPECT_EQ(p.chosen(0, 0), (Pages{0, 1, 2}));
}

TEST(DecodeReference, SinkPagesBeyondTheSequence) {
  Problem p(1, 1, 1, 1, 64, 16, 8);
  p.seqlens = {3 * 16};
  p.select(2, 10);  // every page is forced; the two lowest win
  EXPECT_EQ(p.chosen(0, 0), (Pages{0, 1}));
}

TEST(DecodeReference, UnmappedPagesAreNeverSelected) {
  Problem p(1, 1, 1, 1, 64, 16, 6);
  p.table[0] = -1;       // the sink page is unmapped
  p.table[3] = 1 << 20;  // out of the pool
  p.set_page(3, 0, 5.f);
  p.select(6, 1);
  EXPECT_EQ(p.chosen(0, 0), (Pages{1, 2, 4, 5}));
}

TEST(DecodeReference, EachKvHeadAndSequenceSelectsAlone) {
  Problem p(2, 4, 2, 1, 64, 16, 5);
  p.set_page(2, 0, 1.f);          // b0 h0 prefers page 2
  p.set_page(5 + 2, 1, 1.f);      // b1 h1 prefers page 2 (physical 7)
  p.select(3, 1);
  EXPECT_EQ(p.chosen(0, 0), (Pages{0, 2, 4}));
  EXPECT_EQ(p.chosen(0, 1), (Pages{0, 1, 4}));
  EXPECT_EQ(p.chosen(1, 0), (Pages{0, 1, 4}));
  EXPECT_EQ(p.chosen(1, 1), (Pages{0, 2, 4}));
}

TEST(DecodeReference, ScoreIsTheQuestBoundOverTheGroupAndTokens) {
  // max(q * min, q * max) per d: negative q takes the min, positive q the max; the page score is
  // the max over the group's heads and the new tokens.
  Problem p(1, 2, 1, 2, 64, 16, 2);
  p.seqlens = {20};
  std::fill(p.q.begin(), p.q.end(), 0.f);
  const std::size_t D = 64;
  p.q[0] = -2.f;          // head 0, token 0, d 0
  p.q[3 * D + 1] = 3.f;   // head 1, token 1, d 1
  for (int d = 0; d < 64; ++d) {
    p.k_min[D + d] = -1.f;  // physical page 1
    p.k_max[D + d] = 4.f;
  }
  p.select(2, 0);
  EXPECT_EQ(p.scores[0], 0.f);
  EXPECT_EQ(p.scores[1], 12.f);  // head 1 token 1: 3 * 4; head 0 token 0: -2 * -1 = 2
}

TEST(DecodeReference, BoundsEveryKeysDotProduct) {
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  const int D = 64, ps = 16;
  Problem p(1, 1, 1, 1, D, ps, 4);
  std::vector<float> keys(4 * ps * D);
  for (auto& x : keys) x = u(rng);
  for (auto& x : p.q) x = u(rng);
  for (int pg = 0; pg < 4; ++pg)
    for (int d = 0; d < D; ++d) {
      float lo = INFINITY, hi = -INFINITY;
      for (int t = 0; t < ps; ++t) {
        lo = std::min(lo, keys[(pg * ps + t) * D + d]);
        hi = std::max(hi, keys[(pg * ps + t) * D + d]);
      }
      p.k_min[pg * D + d] = lo;
      p.k_max[pg * D + d] = hi;
    }
  p.select(4, 0);
  for (int pg = 0; pg < 4; ++pg)
    for (int t = 0; t < ps; ++t) {
      double dot = 0;
      for (int d = 0; d < D; ++d) dot += double(p.q[d]) * keys[(pg * ps + t) * D + d];
      EXPECT_LE(dot, p.scores[pg] + 1e-4) << "page " << pg << " token " << t;
    }
}

}  // namespace
