// The only code that knows the sparsity pattern: for one (batch, head, query tile) it says how
// many key tiles there are, where each gathered box of each tile starts, and whether a tile needs
// element masking. Producer and consumers build the same iterator and so agree on every tile.
#pragma once

#include <cstdint>

namespace triageattention::attention {

struct PatternView {
  const int32_t* kv_indices;  // nullptr: dense
  const int32_t* kv_counts;
  int pattern_heads;
  int num_q_blocks;
  int max_blocks;
};

template <int kBoxRows, int kBoxesPerTile>
struct BlockIterator {
  const int32_t* indices;  // this row of kv_indices, or nullptr (dense: entry e is block e)
  int count;               // visited blocks
  int block_size;
  int boxes_per_block;     // block_size / kBoxRows
  int num_key_blocks;
  int64_t seqlen_k;

  __device__ static BlockIterator make(const PatternView& pattern, int batch, int pattern_head,
                                       int q_block, int block_size, int64_t seqlen_q,
                                       int64_t seqlen_k, int q_block_size, bool causal) {
    BlockIterator it;
    it.block_size = block_size;
    it.boxes_per_block = block_size / kBoxRows;
    it.num_key_blocks = int((seqlen_k + block_size - 1) / block_size);
    it.seqlen_k = seqlen_k;
    if (pattern.kv_indices == nullptr) {
      it.indices = nullptr;
      it.count = it.num_key_blocks;
      if (causal) {
        // Last key the tile's last query row sees (bottom-right aligned diagonal).
        int64_t last_q = int64_t(q_block + 1) * q_block_size - 1;
        last_q = last_q < seqlen_q - 1 ? last_q : seqlen_q - 1;
        const int64_t last_key = last_q + seqlen_k - seqlen_q;
        const int64_t visible = last_key < 0 ? 0 : last_key / block_size + 1;
        it.count = visible < it.count ? int(visible) : it.count;
      }
    } else {
      const int64_t row = (int64_t(batch) * pattern.pattern_heads + pattern_head) * pattern.num_q_blocks + q_block;
      it.indices = pattern.kv_indices + row * pattern.max_blocks;
      const int c = __ldg(pattern.kv_counts + row);
      it.count = c < 0 ? 0 : (c > pattern.max_blocks ? pattern.max_blocks : c);
    }
    return it;
  }

  __device__ int blocks_per_tile() const { return kBoxesPerTile / boxes_per_block; }

  __device__ int num_tiles() const {
    const int per_tile = blocks_per_tile();
    return (count + per_tile - 1) / per_tile;
  }

  // First key of box u of tile t, or -1 when the box holds no key (past the row's count, or an
  // index outside [0, num_key_blocks)); such boxes are loaded from out of bounds as zeros.
  __device__ int64_t box_key_start(int tile, int u) const {
    const int entry = tile * blocks_per_tile() + u / boxes_per_block;
    if (entry >= count) return -1;
    const int block = indices ? __ldg(indices + entry) : entry;
    if (block < 0 || block >= num_key_blocks) return -1;
    return int64_t(block) * block_size + (u % boxes_per_block) * kBoxRows;
  }

  // Whether any element of tile t can be masked for query rows starting at first_q: an empty box,
  // keys past the end, or (causal) keys past the diagonal of first_q.
  __device__ bool tile_needs_mask(int tile, int64_t first_q, int64_t causal_offset, bool causal) const {
    bool mask = false;
    for (int u = 0; u < kBoxesPerTile; ++u) {
      const int64_t start = box_key_start(tile, u);
      const int64_t last = start + kBoxRows - 1;
      mask |= start < 0 || last >= seqlen_k || (causal && last > first_q + causal_offset);
    }
    return mask;
  }
};

}  // namespace triageattention::attention
