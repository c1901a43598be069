// The BSR GEMM's work decomposition on the host (runs in CI, no GPU): the persistent schedule
// hands out every (block-row, column tile) exactly once, band by band, rows in the given order;
// the row ranges and column reads stay inside the pattern whatever crow and col hold.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <random>
#include <vector>

#include "../../csrc/gemm/bsr_gemm_schedule.h"

namespace {

using triageattention::gemm::BsrItemWalk;
using triageattention::gemm::BsrRowBlocks;
using triageattention::gemm::BsrTileSchedule;

// Checks one schedule: a bijection from items onto rows x tiles, bands of `band` tiles in order,
// and inside a band the rows in `order` (identity when null), each taking its tiles in turn.
void check_schedule(int num_rows, int num_tiles, int band, const int* order) {
  const BsrTileSchedule schedule{num_rows, num_tiles, band, order};
  ASSERT_EQ(schedule.num_items(), int64_t(num_rows) * num_tiles);
  std::vector<int> seen(size_t(num_rows) * num_tiles, 0);
  int64_t i = 0;
  for (int first = 0; first < num_tiles; first += band) {
    const int width = std::min(band, num_tiles - first);
    for (int rank = 0; rank < num_rows; ++rank) {
      const int row = order ? order[rank] : rank;
      for (int t = 0; t < width; ++t, ++i) {
        const auto item = schedule.item(i);
        ASSERT_EQ(item.row, row) << "item " << i;
        ASSERT_EQ(item.n_tile, first + t) << "item " << i;
        ++seen[size_t(item.row) * num_tiles + item.n_tile];
      }
    }
  }
  ASSERT_EQ(i, schedule.num_items());
  EXPECT_TRUE(std::all_of(seen.begin(), seen.end(), [](int n) { return n == 1; }));
}

TEST(BsrGemmSchedule, EveryTileOnceBandByBand) {
  std::mt19937 rng(7);
  for (int num_rows : {1, 3, 64, 128, 130}) {
    std::vector<int> order(num_rows);
    std::iota(order.begin(), order.end(), 0);
    std::shuffle(order.begin(), order.end(), rng);
    for (int num_tiles : {1, 5, 8, 16}) {
      for (int band : {1, 2, 3, num_tiles}) {
        SCOPED_TRACE(::testing::Message() << num_rows << " rows, " << num_tiles << " tiles, band "
                                          << band);
        check_schedule(num_rows, num_tiles, band, nullptr);
        check_schedule(num_rows, num_tiles, band, order.data());
      }
    }
  }
}

TEST(BsrGemmRowBlocks, FixedTopkRowsAreConsecutive) {
  const std::vector<int> cols = {0, 3, 1, 2, 2, 0};
  const BsrRowBlocks blocks{nullptr, cols.data(), false, 6, 2, 4};
  for (int r = 0; r < 3; ++r) {
    const auto range = blocks.row(r);
    EXPECT_EQ(range.begin, 2 * r);
    EXPECT_EQ(range.end, 2 * r + 2);
  }
  EXPECT_EQ(blocks.column(1), 3);
}

// Malformed crow values (negative, past nnzb, decreasing) give ranges inside [0, nnzb] that never
// run backwards; columns outside [0, K / bs) read as -1 (no block). Both index widths.
template <class Index>
void check_malformed() {
  const int64_t nnzb = 5;
  const std::vector<Index> crow = {-3, 2, 9, 1, 4, 5};
  const std::vector<Index> cols = {0, 7, -1, 3, 4};
  const BsrRowBlocks blocks{crow.data(), cols.data(), sizeof(Index) == 8, nnzb, 0, 4};
  const int64_t expect[5][2] = {{0, 2}, {2, 5}, {5, 5}, {1, 4}, {4, 5}};
  for (int r = 0; r < 5; ++r) {
    const auto range = blocks.row(r);
    EXPECT_EQ(range.begin, expect[r][0]) << "row " << r;
    EXPECT_EQ(range.end, expect[r][1]) << "row " << r;
  }
  EXPECT_EQ(blocks.column(0), 0);
  EXPECT_EQ(blocks.column(1), -1);  // 7 >= K / bs = 4
  EXPECT_EQ(blocks.column(2), -1);  // negative
  EXPECT_EQ(blocks.column(3), 3);
  EXPECT_EQ(blocks.column(4), -1);  // 4 == K / bs
}

TEST(BsrGemmRowBlocks, MalformedIndicesStayInsideThePattern) {
  check_malformed<int32_t>();
  check_malformed<int64_t>();
}

// The kernel's consumers walk their items with the loads read ahead: every cluster's walk must
// give the items first, first + stride, ... with their rows' blocks, exactly as reading them at
// each item, and nothing for a cluster with no item.
TEST(BsrGemmItemWalk, GivesEachClustersItemsAndBlocks) {
  std::mt19937 rng(11);
  const int num_rows = 37, num_tiles = 5;
  std::vector<int> order(num_rows);
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), rng);
  std::vector<int> crow(num_rows + 1, 0);
  for (int r = 0; r < num_rows; ++r) crow[r + 1] = crow[r] + int(rng() % 6);
  const std::vector<int> cols(std::max(crow.back(), 1), 0);
  const BsrRowBlocks general{crow.data(), cols.data(), false, crow.back(), 0, 8};
  const BsrRowBlocks fixed{nullptr, cols.data(), false, int64_t(num_rows) * 3, 3, 8};
  const int* const orders[] = {nullptr, order.data()};
  for (const BsrRowBlocks* blocks : {&general, &fixed}) {
    for (const int* row_order : orders) {
      const BsrTileSchedule schedule{num_rows, num_tiles, 2, row_order};
      for (int stride : {1, 3, 64, 200}) {
        for (int first = 0; first < std::min(stride, 190); ++first) {
          SCOPED_TRACE(::testing::Message() << "stride " << stride << ", first " << first
                                            << (blocks->crow ? ", general" : ", fixed")
                                            << (row_order ? ", ordered" : ""));
          BsrItemWalk walk(schedule, *blocks, first, stride);
          for (int64_t i = first; i < schedule.num_items(); i += stride, walk.advance()) {
            ASSERT_TRUE(walk.valid());
            walk.look_ahead();
            const auto item = schedule.item(i);
            const auto range = blocks->row(item.row);
            EXPECT_EQ(walk.current().row, item.row);
            EXPECT_EQ(walk.current().n_tile, item.n_tile);
            EXPECT_EQ(walk.current().blocks.begin, range.begin);
            EXPECT_EQ(walk.current().blocks.end, range.end);
          }
          EXPECT_FALSE(walk.valid());
        }
      }
    }
  }
}

}  // namespace
