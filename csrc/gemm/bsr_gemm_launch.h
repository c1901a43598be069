// Declarations shared by the dispatcher and the per-configuration translation units.
#pragma once

#include <cuda_runtime_api.h>

#include "triageattention/sparse_gemm.h"

namespace triageattention::gemm {

// Defined once per built (input type, output type, block size) in a generated instance file.
template <DType kInput, DType kOutput, int kBlockSize>
void launch_bsr_gemm_instance(const BsrGemmParams& p, const int* row_order, cudaStream_t stream);

// Longest-row-first order of the block-rows (general BSR form), computed on the device.
struct RowOrderWorkspace {
  static std::size_t bytes(int num_rows);
  // Writes the order into workspace and returns a pointer to it (valid until the next call).
  static const int* compute(const BsrGemmParams& p, void* workspace, std::size_t workspace_bytes,
                            cudaStream_t stream);
};

}  // namespace triageattention::gemm
