#include "common/device_info.h"

namespace triageattention::detail {

int current_device_sm_count() {
  static PerDeviceCache cache{};
  return cached_for_current_device(cache, [](int device) {
    int count = 0;
    TA_CUDA_CHECK(cudaDeviceGetAttribute(&count, cudaDevAttrMultiProcessorCount, device));
    return count;
  });
}

}  // namespace triageattention::detail
