// Work decomposition of the BSR GEMM: the only code that knows the BSR pattern and the order in
// which work items run. A work item is (block-row, tile of kTileN dense columns).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace triageattention::gemm {

// A read-only load: __ldg on the device, a plain load where this header is compiled for the
// host (the CPU tests of the schedule and the row ranges).
template <class T>
__host__ __device__ __forceinline__ T read_only(const T* p) {
#ifdef __CUDA_ARCH__
  return __ldg(p);
#else
  return *p;
#endif
}

// Reads one index of a pattern array stored as int32 or int64.
__host__ __device__ __forceinline__ int64_t load_index(const void* ptr, int64_t i, bool is_int64) {
  return is_int64 ? read_only(static_cast<const long long*>(ptr) + i)
                  : int64_t(read_only(static_cast<const int*>(ptr) + i));
}

// The blocks a block-row owns, made safe against malformed crow values: the range is clamped to
// [0, nnzb] and never runs backwards, so no value of crow can cause an out-of-bounds read.
struct BsrRowBlocks {
  const void* crow;  // nullptr: fixed top-k form
  const void* cols;
  bool is_int64;
  int64_t nnzb;
  int topk;
  int num_k_blocks;

  struct Range {
    int64_t begin, end;
  };

  __host__ __device__ Range row(int r) const {
    if (crow == nullptr) return {int64_t(r) * topk, int64_t(r) * topk + topk};
    int64_t b = load_index(crow, r, is_int64);
    int64_t e = load_index(crow, r + 1, is_int64);
    b = b < 0 ? 0 : (b > nnzb ? nnzb : b);
    e = e < b ? b : (e > nnzb ? nnzb : e);
    return {b, e};
  }

  // Column block of stored block j, or -1 if it lies outside [0, K / bs).
  __host__ __device__ int column(int64_t j) const {
    int64_t c = load_index(cols, j, is_int64);
    return (c >= 0 && c < num_k_blocks) ? int(c) : -1;
  }
};

// Static persistent schedule. Items are grouped in bands of `band` dense-column tiles; inside a
// band every block-row takes its tiles in turn, rows in `row_order` (longest first when the
// caller sorted them). CTAs running at the same time then share a few column slices of B in L2,
// and long rows start early so they do not form a tail.
struct BsrTileSchedule {
  int num_rows;
  int num_n_tiles;
  int band;
  const int* row_order;  // nullptr: identity

  __host__ __device__ int64_t num_items() const { return int64_t(num_rows) * num_n_tiles; }

  struct Item {
    int row, n_tile;
  };

  __host__ __device__ Item item(int64_t i) const {
    const auto at = locate(i);
    return {row_order ? read_only(row_order + at.rank) : at.rank, at.n_tile};
  }

 private:
  // Item i's place in the schedule: its rank in the row order and its column tile. In 32 bits
  // (the host keeps num_items below 2^31): the 64-bit divisions made the producer spill.
  struct Place {
    int rank, n_tile;
  };
  __host__ __device__ Place locate(int64_t item) const {
    const int i = int(item);
    const int band_items = num_rows * band;
    const int band_idx = i / band_items;
    const int within = i - band_idx * band_items;
    const int first_tile = band_idx * band;
    const int width = num_n_tiles - first_tile < band ? num_n_tiles - first_tile : band;
    const int rank = within / width;
    const int n_tile = first_tile + (within - rank * width);
    return {rank, n_tile};
  }
};

// One work item as a role of the kernel runs it: its block-row, column tile and stored blocks.
struct BsrWorkItem {
  int row, n_tile;
  BsrRowBlocks::Range blocks;
};

// A cluster's walk over its items: first, first + stride, ... below num_items. In the general
// form an item's blocks take two dependent loads (the row order, then crow); read at the item
// boundary, they would stall every item start for two L2 round trips under full load. The walk
// reads the row order two items ahead and crow one item ahead, so each load's result is used an
// item after it was issued. The schedule arithmetic of the item after next (two divisions) is
// look_ahead(), which the caller runs once per item where it overlaps other work; advance() is
// left with a copy and crow's loads.
class BsrItemWalk {
 public:
  __host__ __device__ BsrItemWalk(const BsrTileSchedule& schedule, const BsrRowBlocks& blocks,
                                  int64_t first, int64_t stride)
      : schedule_(schedule), blocks_(blocks), index_(first), stride_(stride) {
    const auto item = entry(first);
    current_ = {item.row, item.n_tile, range(first, item.row)};
    const auto second = entry(first + stride);
    next_ = {second.row, second.n_tile, range(first + stride, second.row)};
  }

  __host__ __device__ bool valid() const { return index_ < schedule_.num_items(); }
  __host__ __device__ const BsrWorkItem& current() const { return current_; }

  // Once per item, before advance().
  __host__ __device__ void look_ahead() { after_next_ = entry(index_ + 2 * stride_); }

  __host__ __device__ void advance() {
    index_ += stride_;
    current_ = next_;
    next_ = {after_next_.row, after_next_.n_tile, range(index_ + stride_, after_next_.row)};
  }

 private:
  // Items past the end are never run: no loads for them.
  __host__ __device__ BsrTileSchedule::Item entry(int64_t i) const {
    return i < schedule_.num_items() ? schedule_.item(i) : BsrTileSchedule::Item{0, 0};
  }
  __host__ __device__ BsrRowBlocks::Range range(int64_t i, int row) const {
    return i < schedule_.num_items() ? blocks_.row(row) : BsrRowBlocks::Range{0, 0};
  }

  const BsrTileSchedule& schedule_;  // the kernel's parameters (grid constant): not copied
  const BsrRowBlocks& blocks_;
  int64_t index_, stride_;
  BsrWorkItem current_, next_;
  BsrTileSchedule::Item after_next_;
};

}  // namespace triageattention::gemm
