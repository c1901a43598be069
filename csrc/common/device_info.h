// Host-side launch helpers: per-device facts that size persistent grids, each asked of the
// driver once per device, and the launch attribute that groups CTAs into clusters.
#pragma once

#include <cuda_runtime_api.h>

#include <array>
#include <atomic>

#include "common/cuda_check.h"

namespace triageattention::detail {

// One int per device ordinal; 0 means not asked yet.
using PerDeviceCache = std::array<std::atomic<int>, 64>;

// ask(device) for the current device, kept in `cache` once it returns a positive value (devices
// past the cache's size are asked every time).
template <class Ask>
int cached_for_current_device(PerDeviceCache& cache, Ask ask) {
  int device = 0;
  TA_CUDA_CHECK(cudaGetDevice(&device));
  if (device < 0 || device >= int(cache.size())) return ask(device);
  int value = cache[device].load(std::memory_order_relaxed);
  if (value <= 0) {
    value = ask(device);
    if (value > 0) cache[device].store(value, std::memory_order_relaxed);
  }
  return value;
}

// Multiprocessor count of the current device.
int current_device_sm_count();

// Groups the grid's CTAs into clusters of `size` consecutive blockIdx.x.
inline cudaLaunchAttribute cluster_attribute(unsigned size) {
  cudaLaunchAttribute attribute = {};
  attribute.id = cudaLaunchAttributeClusterDimension;
  attribute.val.clusterDim.x = size;
  attribute.val.clusterDim.y = 1;
  attribute.val.clusterDim.z = 1;
  return attribute;
}

}  // namespace triageattention::detail
