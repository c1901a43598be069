#include "test_util.h"

#include <cmath>
#include <cstring>

namespace ta_test {

std::string gpu_skip_reason() {
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    cudaGetLastError();
    return std::string("no usable CUDA driver/GPU (") + cudaGetErrorString(err) + ")";
  }
  if (count == 0) return "no CUDA GPU on this machine";
  cudaDeviceProp prop{};
  if (cudaGetDeviceProperties(&prop, 0) != cudaSuccess) return "cannot query GPU 0";
  if (prop.major != 9) return std::string("GPU 0 (") + prop.name + ") is not Hopper (sm_90)";
  return "";
}

DeviceBuffer::DeviceBuffer(std::size_t bytes) : bytes_(bytes) {
  if (cudaMalloc(&ptr_, bytes ? bytes : 16) != cudaSuccess) throw std::runtime_error("cudaMalloc failed");
}
DeviceBuffer::~DeviceBuffer() { cudaFree(ptr_); }
void DeviceBuffer::upload(const void* host, std::size_t bytes) {
  if (cudaMemcpy(ptr_, host, bytes, cudaMemcpyHostToDevice) != cudaSuccess)
    throw std::runtime_error("upload failed");
}
void DeviceBuffer::download(void* host, std::size_t bytes) const {
  if (cudaMemcpy(host, ptr_, bytes, cudaMemcpyDeviceToHost) != cudaSuccess)
    throw std::runtime_error("download failed");
}
void DeviceBuffer::fill_bytes(unsigned char value) {
  if (cudaMemset(ptr_, value, bytes_) != cudaSuccess) throw std::runtime_error("memset failed");
}

TypedHost::TypedHost(DType t, std::size_t n) : type(t) {
  if (t == DType::kFloat32) f32.resize(n); else half_bits.resize(n);
}
std::size_t TypedHost::size() const { return type == DType::kFloat32 ? f32.size() : half_bits.size(); }
std::size_t TypedHost::bytes() const { return size() * triageattention::dtype_size(type); }
const void* TypedHost::data() const {
  return type == DType::kFloat32 ? static_cast<const void*>(f32.data()) : half_bits.data();
}
void* TypedHost::data() {
  return type == DType::kFloat32 ? static_cast<void*>(f32.data()) : half_bits.data();
}
float TypedHost::get(std::size_t i) const {
  switch (type) {
    case DType::kFloat32: return f32[i];
    case DType::kFloat16: {
      __half h;
      std::memcpy(&h, &half_bits[i], 2);
      return __half2float(h);
    }
    case DType::kBFloat16: {
      __nv_bfloat16 h;
      std::memcpy(&h, &half_bits[i], 2);
      return __bfloat162float(h);
    }
  }
  return 0.f;
}
void TypedHost::set(std::size_t i, float v) {
  switch (type) {
    case DType::kFloat32: f32[i] = v; break;
    case DType::kFloat16: {
      const __half h = __float2half_rn(v);
      std::memcpy(&half_bits[i], &h, 2);
      break;
    }
    case DType::kBFloat16: {
      const __nv_bfloat16 h = __float2bfloat16_rn(v);
      std::memcpy(&half_bits[i], &h, 2);
      break;
    }
  }
}

TypedHost random_typed(DType type, std::size_t n, std::mt19937& rng, std::vector<float>* widened) {
  std::uniform_real_distribution<float> uniform(-1.f, 1.f);
  TypedHost out(type, n);
  if (widened) widened->resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    out.set(i, uniform(rng));
    if (widened) (*widened)[i] = out.get(i);
  }
  return out;
}

double max_scaled_error(const std::vector<float>& got, const std::vector<float>& want) {
  double sum_sq = 0;
  for (float w : want) sum_sq += double(w) * w;
  const double rms = want.empty() ? 0 : std::sqrt(sum_sq / want.size());
  double worst = 0;
  for (std::size_t i = 0; i < want.size(); ++i) {
    const double err = std::fabs(double(got[i]) - want[i]);
    if (std::isnan(got[i])) return INFINITY;
    worst = std::max(worst, err / (std::fabs(double(want[i])) + rms + 1e-30));
  }
  return worst;
}

std::string grid_case_name(DType dtype, int head_dim, int block_size, int q_block, bool causal) {
  return std::string(dtype == DType::kFloat16 ? "fp16" : "bf16") + "_d" + std::to_string(head_dim) +
         "_bs" + std::to_string(block_size) + "_qb" + std::to_string(q_block) +
         (causal ? "_causal" : "");
}

}  // namespace ta_test
