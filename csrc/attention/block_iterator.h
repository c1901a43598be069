// The only code that knows the sparsity pattern: for one (batch, head, query tile) it says how
// many key tiles there are, where each gathered box of each tile starts, and whether a tile needs
// element masking. Producer and consumers build the same iterator and so agree on every tile.
// Host-callable too, so that the CPU tests check the tile logic against a brute-force mask.
#pragma once

#include <cstdint>

#include <cute/config.hpp>

namespace triageattention::attention {

// A pattern entry: through the read-only cache on the GPU.
CUTE_HOST_DEVICE int32_t load_pattern(const int32_t* entry) {
#if defined(__CUDA_ARCH__)
  return __ldg(entry);
#else
  return *entry;
#endif
}

// log2 of a power of two.
CUTE_HOST_DEVICE int log2_pow2(int x) {
#if defined(__CUDA_ARCH__)
  return __ffs(x) - 1;
#else
  return __builtin_ctz(unsigned(x));
#endif
}

struct PatternView {
  const int32_t* kv_indices;  // nullptr: dense
  const int32_t* kv_counts;
  int pattern_heads;
  int num_q_blocks;
  int max_blocks;
};

template <int kBoxRows, int kBoxesPerTile>
struct BlockIterator {
  static_assert(kBoxRows == 16 && kBoxesPerTile == 8, "shift arithmetic below assumes 8 boxes of 16");
  const int32_t* indices;  // this row of kv_indices, or nullptr (dense: entry e is block e)
  int count;               // visited blocks
  int block_shift;         // log2(block_size): block sizes are powers of two
  int box_shift;           // log2(block_size / kBoxRows): boxes per block
  int num_key_blocks;
  int seqlen_k;

  CUTE_HOST_DEVICE static BlockIterator make(const PatternView& pattern, int batch,
                                             int pattern_head, int q_block, int block_size,
                                             int seqlen_q, int seqlen_k, int q_block_size,
                                             bool causal) {
    BlockIterator it;
    it.block_shift = log2_pow2(block_size);
    it.box_shift = it.block_shift - 4;
    it.num_key_blocks = (seqlen_k + block_size - 1) >> it.block_shift;
    it.seqlen_k = seqlen_k;
    if (pattern.kv_indices == nullptr) {
      it.indices = nullptr;
      it.count = it.num_key_blocks;
      if (causal) {
        // Last key the tile's last query row sees (bottom-right aligned diagonal).
        int last_q = (q_block + 1) * q_block_size - 1;
        last_q = last_q < seqlen_q - 1 ? last_q : seqlen_q - 1;
        const int last_key = last_q + seqlen_k - seqlen_q;
        const int visible = last_key < 0 ? 0 : (last_key >> it.block_shift) + 1;
        it.count = visible < it.count ? visible : it.count;
      }
    } else {
      const int64_t row = (int64_t(batch) * pattern.pattern_heads + pattern_head) * pattern.num_q_blocks + q_block;
      it.indices = pattern.kv_indices + row * pattern.max_blocks;
      const int c = load_pattern(pattern.kv_counts + row);
      it.count = c < 0 ? 0 : (c > pattern.max_blocks ? pattern.max_blocks : c);
    }
    return it;
  }

  CUTE_HOST_DEVICE int num_tiles() const {
    const int blocks_per_tile_shift = 3 - box_shift;
    return (count + (1 << blocks_per_tile_shift) - 1) >> blocks_per_tile_shift;
  }

  // First key of box u (16 rows) of tile t, or -1 when the box holds no key (past the row's
  // count, or an index outside [0, num_key_blocks)); such boxes are loaded from out of bounds as
  // zeros.
  CUTE_HOST_DEVICE int box_key_start(int tile, int u) const {
    const int entry = (tile << (3 - box_shift)) + (u >> box_shift);
    if (entry >= count) return -1;
    const int block = indices ? load_pattern(indices + entry) : entry;
    if (block < 0 || block >= num_key_blocks) return -1;
    return (block << block_shift) + ((u & ((1 << box_shift) - 1)) << 4);
  }

  CUTE_HOST_DEVICE void box_key_starts(int tile, int (&starts)[kBoxesPerTile]) const {
    CUTE_UNROLL
    for (int u = 0; u < kBoxesPerTile; ++u) starts[u] = box_key_start(tile, u);
  }

  // The largest block index among tile t's entries, or -1 when a box of the tile holds no key
  // (past the row's count, or an index outside [0, num_key_blocks)). One load per entry, none in
  // dense mode. The producer reads it with the tile's boxes and hands it to the consumers through
  // shared memory, so that the consumers' loop loads nothing from the pattern.
  CUTE_HOST_DEVICE int tile_last_block(int t) const {
    const int entries_shift = 3 - box_shift;  // entries per tile: 1 << entries_shift
    const int first_entry = t << entries_shift;
    if (indices == nullptr) {  // dense: consecutive blocks
      const int last_entry = first_entry + (1 << entries_shift) - 1;
      return last_entry < count ? last_entry : -1;
    }
    int max_block = -1;
    bool empty_box = false;
    CUTE_UNROLL
    for (int e = 0; e < kBoxesPerTile; ++e) {
      if (e < (1 << entries_shift)) {
        const int entry = first_entry + e;
        const int block = entry < count ? load_pattern(indices + entry) : -1;
        empty_box |= block < 0 || block >= num_key_blocks;
        max_block = block > max_block ? block : max_block;
      }
    }
    return empty_box ? -1 : max_block;
  }

  // Whether any element of a tile whose tile_last_block is last_block can be masked for query
  // rows from first_q on: an empty box, keys past the end, or (causal) keys past first_q's
  // diagonal. Box starts are computed only for tiles that are masked.
  CUTE_HOST_DEVICE bool tile_needs_mask(int last_block, int first_q, int causal_offset,
                                        bool causal) const {
    if (last_block < 0) return true;
    const int last_key = ((last_block + 1) << block_shift) - 1;
    return last_key >= seqlen_k || (causal && last_key > first_q + causal_offset);
  }
};

}  // namespace triageattention::attention
