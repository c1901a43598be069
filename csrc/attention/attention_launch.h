// Declaration shared by the dispatcher and the per-configuration translation units.
#pragma once

#include <cuda_runtime_api.h>

#include "triageattention/attention.h"

namespace triageattention::attention {

// Defined once per built (dtype, head dim, query tile) in a generated instance file.
template <DType kDType, int kHeadDim, int kBlockM>
void launch_attention_instance(const BlockSparseAttentionParams& p, cudaStream_t stream);

}  // namespace triageattention::attention
