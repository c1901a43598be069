// Types shared by every TriageAttention API: element types, index types and the error policy.
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace triageattention {

enum class DType : int { kFloat16 = 0, kBFloat16 = 1, kFloat32 = 2 };
enum class IndexType : int { kInt32 = 0, kInt64 = 1 };

inline const char* dtype_name(DType t) {
  switch (t) {
    case DType::kFloat16: return "float16";
    case DType::kBFloat16: return "bfloat16";
    case DType::kFloat32: return "float32";
  }
  return "unknown";
}

inline std::size_t dtype_size(DType t) { return t == DType::kFloat32 ? 4 : 2; }

// Error policy: bad arguments throw std::invalid_argument naming the argument and what was
// expected; failures reported by the CUDA runtime throw CudaError. Nothing is checked by reading
// device memory (that would need a host sync); device-side index values are made safe instead.
class CudaError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace triageattention
