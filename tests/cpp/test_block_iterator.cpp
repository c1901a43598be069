// The attention kernel's tile logic (csrc/attention/block_iterator.h), run on the host: which key
// each column of a 128-key tile holds and whether a tile needs element masking, checked against
// a brute-force gather and mask over random patterns (invalid entries, counts past the row,
// lengths that are not multiples of the block, causal with Sq != Sk, dense mode).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

#include "../../csrc/attention/block_iterator.h"

namespace {

using triageattention::attention::PatternView;
using Iterator = triageattention::attention::BlockIterator<16, 8>;
constexpr int kTileKeys = 128;

struct Problem {
  int block_size = 16, seqlen_q = 1, seqlen_k = 1, q_block_size = 128, max_blocks = 1;
  bool causal = false, dense = false;
  std::vector<int32_t> indices, counts;  // [q blocks][max_blocks], [q blocks]

  int num_q_blocks() const { return (seqlen_q + q_block_size - 1) / q_block_size; }
  int num_key_blocks() const { return (seqlen_k + block_size - 1) / block_size; }
  PatternView view() const {
    if (dense) return PatternView{nullptr, nullptr, 1, num_q_blocks(), 0};
    return PatternView{indices.data(), counts.data(), 1, num_q_blocks(), max_blocks};
  }
  // The blocks a query block visits, in order, as the kernel reads them.
  std::vector<int> visited(int q_block) const {
    std::vector<int> blocks;
    if (dense) {
      int last_key = seqlen_k - 1;
      if (causal) {
        const int last_q = std::min((q_block + 1) * q_block_size, seqlen_q) - 1;
        last_key = std::min(last_key, last_q + seqlen_k - seqlen_q);
      }
      for (int b = 0; b < num_key_blocks() && b * block_size <= last_key; ++b) blocks.push_back(b);
    } else {
      const int count = std::clamp(counts[q_block], 0, max_blocks);
      for (int e = 0; e < count; ++e) blocks.push_back(indices[q_block * max_blocks + e]);
    }
    return blocks;
  }
};

// Key of column c of tile t (-1: none), gathered from the visited blocks by hand.
int column_key(const Problem& p, const std::vector<int>& blocks, int t, int c) {
  const int entry = t * (kTileKeys / p.block_size) + c / p.block_size;
  if (entry >= int(blocks.size())) return -1;
  const int block = blocks[entry];
  if (block < 0 || block >= p.num_key_blocks()) return -1;
  return block * p.block_size + c % p.block_size;
}

bool visible(const Problem& p, int q, int key) {
  return key >= 0 && key < p.seqlen_k && (!p.causal || key <= q + p.seqlen_k - p.seqlen_q);
}

// Every (query tile, warpgroup, key tile): the tile count, each box's first key, and the mask
// decision, which must be exact (a missed mask shows keys it must not; a needless one is slow).
void check(const Problem& p) {
  for (int qb = 0; qb < p.num_q_blocks(); ++qb) {
    const std::vector<int> blocks = p.visited(qb);
    const Iterator it = Iterator::make(p.view(), 0, 0, qb, p.block_size, p.seqlen_q, p.seqlen_k,
                                       p.q_block_size, p.causal);
    const int per_tile = kTileKeys / p.block_size;
    ASSERT_EQ(it.num_tiles(), (int(blocks.size()) + per_tile - 1) / per_tile) << "query block " << qb;
    for (int t = 0; t < it.num_tiles(); ++t) {
      int starts[8];
      it.box_key_starts(t, starts);
      for (int c = 0; c < kTileKeys; ++c) {
        const int want = column_key(p, blocks, t, c);
        const int got = starts[c / 16] < 0 ? -1 : starts[c / 16] + c % 16;
        ASSERT_EQ(got, want) << "query block " << qb << ", tile " << t << ", column " << c;
      }
      for (int first_q = qb * p.q_block_size; first_q < (qb + 1) * p.q_block_size; first_q += 64) {
        bool masked = false;
        for (int q = first_q; q < first_q + 64; ++q)
          for (int c = 0; c < kTileKeys; ++c) masked |= !visible(p, q, column_key(p, blocks, t, c));
        const bool decided = it.tile_needs_mask(it.tile_last_block(t), first_q,
                                                p.seqlen_k - p.seqlen_q, p.causal);
        ASSERT_EQ(decided, masked) << "query block " << qb << ", tile " << t << ", rows from "
                                   << first_q << (p.causal ? ", causal" : "");
      }
    }
  }
}

Problem random_problem(std::mt19937& rng, bool dense) {
  auto uniform = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  Problem p;
  p.block_size = 16 << uniform(0, 3);
  p.seqlen_q = uniform(1, 600);
  p.seqlen_k = uniform(1, 900);
  p.q_block_size = uniform(0, 1) ? 64 : 128;
  p.causal = uniform(0, 1);
  p.dense = dense;
  if (dense) return p;
  p.max_blocks = uniform(1, p.num_key_blocks() + 3);
  for (int qb = 0; qb < p.num_q_blocks(); ++qb) {
    // Counts past either end are clamped; most rows are sorted valid blocks, some hold anything.
    p.counts.push_back(uniform(-2, p.max_blocks + 2));
    const bool wild = uniform(0, 3) == 0;
    for (int e = 0; e < p.max_blocks; ++e)
      p.indices.push_back(wild ? uniform(-2, p.num_key_blocks() + 1)
                               : uniform(0, p.num_key_blocks() - 1));
    if (!wild) std::sort(p.indices.end() - p.max_blocks, p.indices.end());
  }
  return p;
}

TEST(BlockIterator, SparseTilesGatherTheListedBlocksAndMaskExactly) {
  std::mt19937 rng(7);
  for (int i = 0; i < 300; ++i) check(random_problem(rng, false));
}

TEST(BlockIterator, DenseTilesRunOverEveryVisibleBlockAndMaskExactly) {
  std::mt19937 rng(8);
  for (int i = 0; i < 200; ++i) check(random_problem(rng, true));
}

TEST(BlockIterator, InteriorTilesNeedNoMask) {
  // The fast path: a non-causal row of valid blocks inside the sequence is never masked.
  Problem p;
  p.block_size = 16;
  p.seqlen_q = 128;
  p.seqlen_k = 4096;
  p.max_blocks = 64;
  p.counts = {64};
  for (int e = 0; e < 64; ++e) p.indices.push_back(4 * e + 1);
  const Iterator it = Iterator::make(p.view(), 0, 0, 0, 16, p.seqlen_q, p.seqlen_k, 128, false);
  ASSERT_EQ(it.num_tiles(), 8);
  for (int t = 0; t < 8; ++t) EXPECT_FALSE(it.tile_needs_mask(it.tile_last_block(t), 0, 0, false));
  check(p);
}

}  // namespace
