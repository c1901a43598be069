// Host-side error helpers shared by every launcher.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>

#include "triageattention/types.h"

namespace triageattention::detail {

[[noreturn]] inline void throw_cuda_error(cudaError_t err, const char* what, const char* file,
                                          int line) {
  std::ostringstream msg;
  msg << "TriageAttention: " << what << " failed: " << cudaGetErrorName(err) << " ("
      << cudaGetErrorString(err) << ") at " << file << ":" << line;
  throw CudaError(msg.str());
}

// Builds the std::invalid_argument message "<function>: <argument> <problem>".
template <typename... Parts>
[[noreturn]] void throw_invalid(const Parts&... parts) {
  std::ostringstream msg;
  (msg << ... << parts);
  throw std::invalid_argument(msg.str());
}

// Whether ptr is a multiple of `bytes` (argument checks of every launcher).
inline bool aligned(const void* ptr, std::size_t bytes) {
  return reinterpret_cast<std::uintptr_t>(ptr) % bytes == 0;
}

}  // namespace triageattention::detail

#define TA_CUDA_CHECK(expr)                                                              \
  do {                                                                                   \
    cudaError_t ta_err_ = (expr);                                                        \
    if (ta_err_ != cudaSuccess)                                                          \
      ::triageattention::detail::throw_cuda_error(ta_err_, #expr, __FILE__, __LINE__);   \
  } while (0)
