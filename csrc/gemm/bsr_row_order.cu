// Longest-first order of BSR block-rows, so the persistent GEMM schedule starts long rows early.
// Equal-length rows keep their index order (a stable order): the order, and therefore the
// schedule, is the same on every run. Up to kRankThreads rows one CTA ranks them in one launch;
// more rows take a lengths kernel and CUB's stable radix sort.
#include <cub/device/device_radix_sort.cuh>

#include "common/cuda_check.h"
#include "gemm/bsr_gemm_launch.h"
#include "gemm/bsr_gemm_schedule.h"

namespace triageattention::gemm {
namespace {

constexpr std::size_t kAlign = 256;

std::size_t align_up(std::size_t x) { return (x + kAlign - 1) / kAlign * kAlign; }

__global__ void row_lengths_kernel(BsrRowBlocks blocks, int num_rows, int* lengths, int* rows) {
  const int r = blockIdx.x * blockDim.x + threadIdx.x;
  if (r >= num_rows) return;
  const auto range = blocks.row(r);
  lengths[r] = int(range.end - range.begin);
  rows[r] = r;
}

constexpr int kRankThreads = 1024;

// Each row's place is the number of rows that go before it: longer ones, and as long ones with a
// lower index. n comparisons per row from shared memory, for n <= kRankThreads: a few
// thousand cycles, where the sort took a second launch and several passes.
__global__ void __launch_bounds__(kRankThreads)
    row_order_by_rank_kernel(BsrRowBlocks blocks, int num_rows, int* rows_out) {
  __shared__ int lengths[kRankThreads];
  const int r = int(threadIdx.x);
  int length = 0;
  if (r < num_rows) {
    const auto range = blocks.row(r);
    length = int(range.end - range.begin);
    lengths[r] = length;
  }
  __syncthreads();
  if (r >= num_rows) return;
  int rank = 0;
  for (int j = 0; j < num_rows; ++j) {
    const int other = lengths[j];
    rank += (other > length || (other == length && j < r)) ? 1 : 0;
  }
  rows_out[rank] = r;
}

std::size_t cub_temp_bytes(int num_rows) {
  std::size_t bytes = 0;
  TA_CUDA_CHECK(cub::DeviceRadixSort::SortPairsDescending(
      nullptr, bytes, static_cast<const int*>(nullptr), static_cast<int*>(nullptr),
      static_cast<const int*>(nullptr), static_cast<int*>(nullptr), num_rows));
  return bytes;
}

int key_bits(int64_t max_length) {
  int bits = 1;
  while (bits < 31 && (int64_t(1) << bits) <= max_length) ++bits;
  return bits;
}

}  // namespace

std::size_t RowOrderWorkspace::bytes(int num_rows) {
  if (num_rows <= 1) return 0;
  return 4 * align_up(sizeof(int) * std::size_t(num_rows)) + align_up(cub_temp_bytes(num_rows));
}

const int* RowOrderWorkspace::compute(const BsrGemmParams& p, void* workspace,
                                      std::size_t workspace_bytes, cudaStream_t stream) {
  const int num_rows = int(p.M / p.block_size);
  if (p.crow_indices == nullptr || num_rows <= 1) return nullptr;  // rows all alike
  const std::size_t needed = bytes(num_rows);
  if (workspace == nullptr || workspace_bytes < needed) {
    detail::throw_invalid("bsr_gemm: workspace must hold at least ", needed,
                          " bytes (bsr_gemm_workspace_bytes), got ", workspace_bytes);
  }
  char* base = static_cast<char*>(workspace);
  const std::size_t array_bytes = align_up(sizeof(int) * std::size_t(num_rows));
  int* lengths_in = reinterpret_cast<int*>(base);
  int* lengths_out = reinterpret_cast<int*>(base + array_bytes);
  int* rows_in = reinterpret_cast<int*>(base + 2 * array_bytes);
  int* rows_out = reinterpret_cast<int*>(base + 3 * array_bytes);
  void* temp = base + 4 * array_bytes;
  std::size_t temp_bytes = workspace_bytes - 4 * array_bytes;

  const BsrRowBlocks blocks{p.crow_indices, p.col_indices, p.index_type == IndexType::kInt64,
                            p.nnzb,         p.topk,        int(p.K / p.block_size)};
  if (num_rows <= kRankThreads) {
    const int threads = (num_rows + 31) / 32 * 32;
    row_order_by_rank_kernel<<<1, threads, 0, stream>>>(blocks, num_rows, rows_out);
    TA_CUDA_CHECK(cudaGetLastError());
    return rows_out;
  }
  constexpr int kThreads = 256;
  row_lengths_kernel<<<(num_rows + kThreads - 1) / kThreads, kThreads, 0, stream>>>(
      blocks, num_rows, lengths_in, rows_in);
  TA_CUDA_CHECK(cudaGetLastError());
  TA_CUDA_CHECK(cub::DeviceRadixSort::SortPairsDescending(temp, temp_bytes, lengths_in,
                                                          lengths_out, rows_in, rows_out, num_rows,
                                                          0, key_bits(p.nnzb), stream));
  return rows_out;
}

}  // namespace triageattention::gemm
