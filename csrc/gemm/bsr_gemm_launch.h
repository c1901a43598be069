// Declarations shared by the dispatcher and the per-configuration translation units.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "triageattention/sparse_gemm.h"

namespace triageattention::gemm {

// Defined once per built (input type, output type, block size) in a generated instance file.
template <DType kInput, DType kOutput, int kBlockSize>
void launch_bsr_gemm_instance(const BsrGemmParams& p, const int* row_order, cudaStream_t stream);

// Clusters to launch for num_items equal work items when at most max_resident fit at once: the
// fewest that still finish in the same number of rounds. Every round is then full, with no
// half-empty last round, and the SMs left idle free L2 bandwidth for the others, which this
// L2-bound kernel turns into speed (session 19: bs 64 at 12.5%, 1,024 items on 64 clusters
// instead of 66, +2.3%).
constexpr int balanced_cluster_count(int64_t num_items, int max_resident) {
  if (num_items <= max_resident) return int(num_items);
  const int64_t rounds = (num_items + max_resident - 1) / max_resident;
  return int((num_items + rounds - 1) / rounds);
}

// Longest-row-first order of the block-rows (general BSR form), computed on the device.
struct RowOrderWorkspace {
  static std::size_t bytes(int num_rows);
  // Writes the order into workspace and returns a pointer to it (valid until the next call).
  static const int* compute(const BsrGemmParams& p, void* workspace, std::size_t workspace_bytes,
                            cudaStream_t stream);
};

}  // namespace triageattention::gemm
